//! The operators behind the API's methods, each a thin [`OneInputOperator`] over the
//! runtime's chain mechanism.
//!
//! [`OneInputOperator`]: strom_runtime::operator::OneInputOperator

mod basic;
mod keyed_aggregation;
mod process;

pub(crate) use basic::{FilterOperator, FlatMapOperator, MapOperator};
pub(crate) use keyed_aggregation::{Aggregation, KeyedAggregationOperator};
pub(crate) use process::ProcessOperator;
