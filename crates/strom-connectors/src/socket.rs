//! `socket_text_stream`: lines from a TCP socket, as Flink's socket source reads them.
//!
//! The source is not parallel and offers at-most-once delivery: what was read before a
//! failure is not read again. When the peer closes the connection, the source ends, unless
//! `max_retry` asks it to reconnect (Flink's semantics: `0` ends at once, `-1` retries
//! forever, `n` retries `n` times, one second apart). The first connection is tried a few
//! times before the job fails with the host and port named.

use std::io::{ErrorKind, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strom_core::BoxError;
use strom_runtime::operator::OperatorContext;
use strom_runtime::source::{
    Boundedness, ReaderStatus, Source, SourceOutput, SourceReader, SourceSplit,
};

use crate::error::ConnectorError;

/// How long one read waits before the task may do other work (flush, notice cancellation).
const READ_TIMEOUT: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads delimited text from `host:port`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SocketTextSource {
    host: String,
    port: u16,
    delimiter: u8,
    max_retry: i64,
    retry_delay: Duration,
    connect_attempts: u32,
}

impl SocketTextSource {
    /// Lines separated by `delimiter` from `host:port`; on disconnect, reconnects up to
    /// `max_retry` times (`-1`: forever).
    pub fn new(host: impl Into<String>, port: u16, delimiter: u8, max_retry: i64) -> Self {
        SocketTextSource {
            host: host.into(),
            port,
            delimiter,
            max_retry,
            retry_delay: Duration::from_secs(1),
            connect_attempts: 3,
        }
    }

    /// Changes the pause between connection attempts (default one second).
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    fn connect(&self) -> Result<TcpStream, ConnectorError> {
        let mut last_error = None;
        for attempt in 1..=self.connect_attempts {
            match self.try_connect() {
                Ok(stream) => return Ok(stream),
                Err(error) => last_error = Some(error),
            }
            if attempt < self.connect_attempts {
                std::thread::sleep(self.retry_delay);
            }
        }
        Err(ConnectorError::Connect {
            host: self.host.clone(),
            port: self.port,
            attempts: self.connect_attempts,
            source: last_error.unwrap_or_else(|| std::io::Error::other("no attempt made")),
        })
    }

    fn try_connect(&self) -> std::io::Result<TcpStream> {
        let mut last_error =
            std::io::Error::new(ErrorKind::NotFound, "the host name resolved to no address");
        for address in (self.host.as_str(), self.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(READ_TIMEOUT))?;
                    return Ok(stream);
                }
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }
}

/// The single split of a socket source: the connection itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketSplit {
    /// `host:port`.
    pub address: String,
}

impl SourceSplit for SocketSplit {
    fn split_id(&self) -> String {
        self.address.clone()
    }
}

impl Source<String> for SocketTextSource {
    type Split = SocketSplit;
    type Reader = SocketReader;

    fn boundedness(&self) -> Boundedness {
        Boundedness::ContinuousUnbounded
    }

    fn create_splits(&self, _parallelism: usize) -> Result<Vec<SocketSplit>, BoxError> {
        Ok(vec![SocketSplit {
            address: format!("{}:{}", self.host, self.port),
        }])
    }

    fn create_reader(&self, _ctx: &OperatorContext) -> Result<SocketReader, BoxError> {
        Ok(SocketReader {
            source: self.clone(),
            stream: None,
            pending: Vec::new(),
            retries: 0,
            buffer: vec![0; 64 << 10],
        })
    }
}

/// Reads the connection, reconnecting as configured.
pub struct SocketReader {
    source: SocketTextSource,
    stream: Option<TcpStream>,
    /// Bytes of a line not yet ended by a delimiter.
    pending: Vec<u8>,
    retries: i64,
    buffer: Vec<u8>,
}

impl SocketReader {
    fn emit_lines(&mut self, output: &mut SourceOutput<String>) {
        let delimiter = self.source.delimiter;
        let mut start = 0;
        while let Some(offset) = memchr::memchr(delimiter, &self.pending[start..]) {
            output.collect(line_text(&self.pending[start..start + offset], delimiter));
            start += offset + 1;
        }
        self.pending.drain(..start);
    }
}

/// The text of a record; with `\n` as the delimiter a trailing `\r` is dropped, as Flink does.
fn line_text(bytes: &[u8], delimiter: u8) -> String {
    let bytes = if delimiter == b'\n' {
        bytes.strip_suffix(b"\r").unwrap_or(bytes)
    } else {
        bytes
    };
    String::from_utf8_lossy(bytes).into_owned()
}

impl SourceReader<String, SocketSplit> for SocketReader {
    fn start_split(&mut self, _split: SocketSplit) -> Result<(), BoxError> {
        self.stream = Some(self.source.connect()?);
        Ok(())
    }

    fn poll_next(&mut self, output: &mut SourceOutput<String>) -> Result<ReaderStatus, BoxError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(ReaderStatus::EndOfSplit);
        };
        match stream.read(&mut self.buffer) {
            Ok(0) => {
                // The peer closed the connection: what is left is the last record.
                if !self.pending.is_empty() {
                    let rest = std::mem::take(&mut self.pending);
                    output.collect(line_text(&rest, self.source.delimiter));
                }
                self.stream = None;
                if self.source.max_retry == -1 || self.retries < self.source.max_retry {
                    self.retries += 1;
                    std::thread::sleep(self.source.retry_delay);
                    self.stream = Some(self.source.connect()?);
                    return Ok(ReaderStatus::MoreAvailable);
                }
                Ok(ReaderStatus::EndOfSplit)
            }
            Ok(n) => {
                self.pending.extend_from_slice(&self.buffer[..n]);
                self.emit_lines(output);
                Ok(ReaderStatus::MoreAvailable)
            }
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                Ok(ReaderStatus::NothingAvailable)
            }
            Err(source) => Err(ConnectorError::SocketRead {
                host: self.source.host.clone(),
                port: self.source.port,
                source,
            }
            .into()),
        }
    }

    /// A socket cannot be rewound: after a restore the source connects again and reads what
    /// arrives from then on (at most once, as Flink's socket source).
    fn snapshot_state(&mut self) -> Result<Option<SocketSplit>, BoxError> {
        Ok(self.stream.as_ref().map(|_| SocketSplit {
            address: format!("{}:{}", self.source.host, self.source.port),
        }))
    }
}
