//! Broadcast state: maps that every subtask of an operator holds whole, written only by the
//! broadcast input (Flink's `BroadcastState`, reached with a `MapStateDescriptor`).
//!
//! Every subtask sees the same broadcast elements in its broadcast input, so every subtask's
//! maps hold the same entries. A snapshot writes each subtask's maps; a restore, at any
//! parallelism, gives each new subtask one old subtask's copy.

use std::any::{type_name, Any};
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::keyed_state::{MapStateDescriptor, StateError};

/// A broadcast map with its types erased, as the store keeps it.
trait ErasedBroadcastMap: Send + Sync {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn encode(&self) -> Result<Vec<u8>, postcard::Error>;
    fn description(&self) -> String;
}

impl<UK, UV> ErasedBroadcastMap for HashMap<UK, UV>
where
    UK: Hash + Eq + Send + Sync + Serialize + 'static,
    UV: Send + Sync + Serialize + 'static,
{
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        let entries: Vec<(&UK, &UV)> = self.iter().collect();
        postcard::to_stdvec(&entries)
    }
    fn description(&self) -> String {
        describe::<UK, UV>()
    }
}

fn describe<UK, UV>() -> String {
    format!(
        "broadcast MapState<{}, {}>",
        type_name::<UK>(),
        type_name::<UV>()
    )
}

/// The broadcast states of one operator subtask.
#[derive(Default)]
pub struct BroadcastStateStore {
    /// The names the program declared; only these can be used.
    declared: Vec<&'static str>,
    maps: HashMap<&'static str, Box<dyn ErasedBroadcastMap>>,
    /// Restored maps not asked for since the restore, encoded, by name.
    pending: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for BroadcastStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastStateStore")
            .field("maps", &self.maps.keys().collect::<Vec<_>>())
            .field("pending", &self.pending.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl BroadcastStateStore {
    /// An empty store for the broadcast states named `declared`.
    pub fn new(declared: Vec<&'static str>) -> Self {
        BroadcastStateStore {
            declared,
            ..Self::default()
        }
    }

    /// The map `descriptor` names, for change; created empty (or from the restored copy) on
    /// first use.
    pub fn get_mut<UK, UV>(
        &mut self,
        descriptor: &MapStateDescriptor<UK, UV>,
    ) -> Result<&mut HashMap<UK, UV>, StateError>
    where
        UK: Hash + Eq + Send + Sync + Serialize + DeserializeOwned + 'static,
        UV: Send + Sync + Serialize + DeserializeOwned + 'static,
    {
        let name = descriptor.name();
        if !self.declared.contains(&name) {
            return Err(StateError::UndeclaredBroadcastState {
                name: name.to_string(),
            });
        }
        if !self.maps.contains_key(name) {
            let map: HashMap<UK, UV> = match self.pending.remove(name) {
                Some(bytes) => {
                    let entries: Vec<(UK, UV)> =
                        postcard::from_bytes(&bytes).map_err(|error| StateError::Restore {
                            name: name.to_string(),
                            message: format!("{error} (read as a {})", describe::<UK, UV>()),
                        })?;
                    entries.into_iter().collect()
                }
                None => HashMap::new(),
            };
            self.maps.insert(name, Box::new(map));
        }
        let map = self.maps.get_mut(name).expect("inserted above");
        let existing = map.description();
        map.as_any_mut()
            .downcast_mut::<HashMap<UK, UV>>()
            .ok_or_else(|| StateError::TypeMismatch {
                name: name.to_string(),
                existing,
                requested: describe::<UK, UV>(),
            })
    }

    /// The map `descriptor` names, for reading.
    pub fn get<UK, UV>(
        &mut self,
        descriptor: &MapStateDescriptor<UK, UV>,
    ) -> Result<&HashMap<UK, UV>, StateError>
    where
        UK: Hash + Eq + Send + Sync + Serialize + DeserializeOwned + 'static,
        UV: Send + Sync + Serialize + DeserializeOwned + 'static,
    {
        self.get_mut(descriptor).map(|map| &*map)
    }

    /// Every map, as `(name, entries)` records (maps restored and not used since are written
    /// as they were restored).
    pub fn snapshot(&self) -> Result<Vec<Vec<u8>>, postcard::Error> {
        let mut encoded = self.pending.clone();
        for (name, map) in &self.maps {
            encoded.insert(name.to_string(), map.encode()?);
        }
        encoded
            .iter()
            .map(|(name, bytes)| postcard::to_stdvec(&(name, bytes)))
            .collect()
    }

    /// Takes back what [`snapshot`](Self::snapshot) wrote; each map becomes usable again
    /// when a descriptor asks for it.
    pub fn restore(&mut self, records: &[Vec<u8>]) -> Result<(), postcard::Error> {
        self.maps.clear();
        self.pending.clear();
        for record in records {
            let (name, bytes): (String, Vec<u8>) = postcard::from_bytes(record)?;
            self.pending.insert(name, bytes);
        }
        Ok(())
    }

    /// The names of the maps the store holds, in order.
    #[cfg(test)]
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.maps.keys().map(|name| name.to_string()).collect();
        names.extend(self.pending.keys().cloned());
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: MapStateDescriptor<String, u32> = MapStateDescriptor::new("rules");

    #[test]
    fn maps_round_trip_through_a_snapshot_and_keep_their_type() {
        let restored_store = |records: &[Vec<u8>]| {
            let mut store = BroadcastStateStore::new(vec!["rules"]);
            store.restore(records).unwrap();
            store
        };
        let mut store = restored_store(&[]);
        store.get_mut(&RULES).unwrap().insert("max".into(), 7);
        let mut restored = restored_store(&store.snapshot().unwrap());
        assert_eq!(restored.names(), ["rules"]);
        // Not yet opened: written again as restored.
        let again = restored_store(&restored.snapshot().unwrap());
        assert_eq!(again.names(), ["rules"]);
        assert_eq!(restored.get(&RULES).unwrap().get("max"), Some(&7));
        let wrong: MapStateDescriptor<String, String> = MapStateDescriptor::new("rules");
        let error = restored.get(&wrong).unwrap_err();
        assert!(matches!(error, StateError::TypeMismatch { .. }), "{error}");
        let undeclared: MapStateDescriptor<String, u32> = MapStateDescriptor::new("limits");
        let error = restored.get(&undeclared).unwrap_err();
        assert_eq!(
            error.to_string(),
            "broadcast state 'limits' was not declared: pass its descriptor to broadcast_state()"
        );
    }
}
