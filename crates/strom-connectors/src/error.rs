//! Connector errors that name what the user must look at: the path, or the host and port.

use std::path::PathBuf;

/// Why a connector failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// An input path does not exist.
    #[error("input path {} does not exist", path.display())]
    InputNotFound {
        /// The path.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The output path exists and the write mode does not allow overwriting it.
    #[error("output path {} already exists (write with WriteMode::Overwrite to replace it)", path.display())]
    OutputExists {
        /// The path.
        path: PathBuf,
    },
    /// A socket could not be reached.
    #[error("could not connect to {host}:{port} after {attempts} attempt(s): {source}")]
    Connect {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// How many times it was tried.
        attempts: u32,
        /// The last error.
        source: std::io::Error,
    },
    /// Reading from a connected socket failed.
    #[error("reading from {host}:{port}: {source}")]
    SocketRead {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl ConnectorError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ConnectorError::Io {
            path: path.into(),
            source,
        }
    }
}
