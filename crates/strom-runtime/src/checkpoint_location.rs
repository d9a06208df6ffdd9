//! Where checkpoint files live: a local directory (a plain path or a `file://` URL) or an
//! object store reached through the `object_store` crate (`memory://` always; `s3://`,
//! `gs://` and `az://` when Strom is built with the `cloud` feature, with credentials from the
//! usual environment variables). Checkpoint storage names files under a location, writes and
//! reads them and lists a location's children; it does not care which kind it has.
//!
//! Local files are written durably: to a temporary file that is synced and then renamed, so a
//! crash never leaves half a file. An object store's `put` is atomic already.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

/// A file or directory of checkpoints, on local disk or in an object store.
#[derive(Clone)]
pub struct Location {
    place: Place,
    /// The location as a user would write it, for messages.
    shown: String,
}

#[derive(Clone)]
enum Place {
    Local(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        key: ObjectPath,
    },
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// In-memory object stores of this process by name (`memory://<name>/...`), so that what one
/// job writes another can read.
fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let mut stores = STORES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let store = stores
        .entry(name.to_string())
        .or_insert_with(|| Arc::new(InMemory::new()));
    Arc::clone(store) as Arc<dyn ObjectStore>
}

/// Runs an object store's operation to its end on the calling thread.
fn block_on<F: Future>(operation: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("strom-object-store")
                .enable_all()
                .build()
                .expect("a runtime for object store requests")
        })
        .block_on(operation)
}

fn object_error(error: object_store::Error) -> io::Error {
    match error {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, error),
        other => io::Error::other(other),
    }
}

impl Location {
    /// The location `text` names: a URL with a scheme, or a local path.
    pub fn parse(text: &str) -> Result<Location, String> {
        if !text.contains("://") {
            return Ok(Location::local(Path::new(text)));
        }
        let url =
            url::Url::parse(text).map_err(|error| format!("'{text}' is not a URL: {error}"))?;
        let place = match url.scheme() {
            "file" => Place::Local(
                url.to_file_path()
                    .map_err(|()| format!("'{text}' is not a local path"))?,
            ),
            "memory" => Place::Object {
                store: memory_store(url.host_str().unwrap_or_default()),
                key: ObjectPath::from(url.path()),
            },
            _ => {
                let (store, key) = object_store::parse_url_opts(
                    &url,
                    std::env::vars().map(|(key, value)| (key.to_ascii_lowercase(), value)),
                )
                .map_err(|error| format!("'{text}' cannot be used: {error}"))?;
                Place::Object {
                    store: Arc::from(store),
                    key,
                }
            }
        };
        Ok(Location {
            place,
            shown: text.trim_end_matches('/').to_string(),
        })
    }

    /// The local directory or file `path`.
    pub fn local(path: &Path) -> Location {
        Location {
            place: Place::Local(path.to_path_buf()),
            shown: path.display().to_string(),
        }
    }

    /// The file or directory `name` in this directory.
    pub fn child(&self, name: &str) -> Location {
        let place = match &self.place {
            Place::Local(path) => Place::Local(path.join(name)),
            Place::Object { store, key } => Place::Object {
                store: Arc::clone(store),
                key: key.child(name),
            },
        };
        Location {
            place,
            shown: format!("{}/{name}", self.shown),
        }
    }

    /// The directory this is in.
    pub fn parent(&self) -> Option<Location> {
        match &self.place {
            Place::Local(path) => {
                let parent = path.parent()?;
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                Some(Location::local(parent))
            }
            Place::Object { store, key } => {
                let mut parts: Vec<_> = key.parts().collect();
                parts.pop()?;
                let (shown, _) = self.shown.rsplit_once('/')?;
                Some(Location {
                    place: Place::Object {
                        store: Arc::clone(store),
                        key: ObjectPath::from_iter(parts),
                    },
                    shown: shown.to_string(),
                })
            }
        }
    }

    /// Writes `bytes` as this file, whole or not at all.
    pub fn write(&self, bytes: &[u8]) -> io::Result<()> {
        match &self.place {
            Place::Local(path) => {
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                let mut temporary = path.clone().into_os_string();
                temporary.push(".inprogress");
                let mut file = fs::File::create(&temporary)?;
                file.write_all(bytes)?;
                file.sync_all()?;
                fs::rename(&temporary, path)
            }
            Place::Object { store, key } => block_on(store.put(key, bytes.to_vec().into()))
                .map(drop)
                .map_err(object_error),
        }
    }

    /// The bytes of this file.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        match &self.place {
            Place::Local(path) => fs::read(path),
            Place::Object { store, key } => block_on(async {
                let found = store.get(key).await?;
                found.bytes().await
            })
            .map(|bytes| bytes.to_vec())
            .map_err(object_error),
        }
    }

    /// Whether this is a file.
    pub fn is_file(&self) -> bool {
        match &self.place {
            Place::Local(path) => path.is_file(),
            Place::Object { store, key } => block_on(store.head(key)).is_ok(),
        }
    }

    /// The names of what this directory holds (none if it does not exist).
    pub fn children(&self) -> io::Result<Vec<String>> {
        match &self.place {
            Place::Local(path) => match fs::read_dir(path) {
                Ok(entries) => entries
                    .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
                    .collect(),
                Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(error) => Err(error),
            },
            Place::Object { store, key } => {
                let listed =
                    block_on(store.list_with_delimiter(Some(key))).map_err(object_error)?;
                let directories = listed.common_prefixes.iter();
                let files = listed.objects.iter().map(|object| &object.location);
                Ok(directories
                    .chain(files)
                    .filter_map(|path| path.filename().map(str::to_string))
                    .collect())
            }
        }
    }

    /// Removes this directory and everything in it; nothing to remove is no error.
    pub fn remove_all(&self) -> io::Result<()> {
        match &self.place {
            Place::Local(path) => match fs::remove_dir_all(path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            },
            Place::Object { store, key } => block_on(async {
                let objects: Vec<_> = store.list(Some(key)).try_collect().await?;
                for object in objects {
                    store.delete(&object.location).await?;
                }
                Ok(())
            })
            .map_err(object_error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_locations_are_shared_by_name_and_listed_like_directories() {
        let base = Location::parse("memory://location-test/checkpoints").unwrap();
        base.child("job")
            .child("chk-1")
            .child("_metadata")
            .write(b"one")
            .unwrap();
        base.child("job")
            .child("chk-2")
            .child("_metadata")
            .write(b"two")
            .unwrap();
        let again = Location::parse("memory://location-test/checkpoints/job").unwrap();
        let mut children = again.children().unwrap();
        children.sort();
        assert_eq!(children, ["chk-1", "chk-2"]);
        let file = again.child("chk-2").child("_metadata");
        assert!(file.is_file());
        assert_eq!(file.read().unwrap(), b"two");
        assert_eq!(
            file.parent().unwrap().to_string(),
            "memory://location-test/checkpoints/job/chk-2"
        );
        let relative = Location::parse("chk-2/_metadata").unwrap();
        assert_eq!(
            relative.parent().unwrap().parent().unwrap().to_string(),
            "."
        );
        assert_eq!(
            file.to_string(),
            "memory://location-test/checkpoints/job/chk-2/_metadata"
        );
        again.child("chk-1").remove_all().unwrap();
        assert_eq!(again.children().unwrap(), ["chk-2"]);
        let missing = again.child("chk-1").child("_metadata").read().unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(Location::parse("nonsense://x").is_err());
    }
}
