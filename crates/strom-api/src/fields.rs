//! Field positions for Flink-style aggregations (`sum(1)`, `min_by(0)`): tuples and plain
//! numbers expose their fields by position, so `key_by(..).sum(1)` reads like Flink.
//!
//! Following Flink: `sum` and `min`/`max` update one field and keep the other fields of the
//! first element seen for the key; `min_by`/`max_by` keep the whole element holding the
//! extreme value (the earlier one on ties). Integer sums wrap on overflow, as in Java.

use std::cmp::Ordering;

/// A value that can stand in an aggregated field.
pub trait FieldValue: Clone {
    /// Whether `sum` applies.
    const NUMERIC: bool;
    /// Adds `other` (numeric fields only).
    fn add(&mut self, other: &Self);
    /// Orders two values; `None` when they cannot be ordered (NaN).
    fn compare(&self, other: &Self) -> Option<Ordering>;
}

macro_rules! integer_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const NUMERIC: bool = true;
            #[inline]
            fn add(&mut self, other: &Self) {
                *self = self.wrapping_add(*other);
            }
            #[inline]
            fn compare(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
    )*};
}
integer_field!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

macro_rules! float_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const NUMERIC: bool = true;
            #[inline]
            fn add(&mut self, other: &Self) {
                *self += *other;
            }
            #[inline]
            fn compare(&self, other: &Self) -> Option<Ordering> {
                self.partial_cmp(other)
            }
        }
    )*};
}
float_field!(f32, f64);

macro_rules! ordered_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const NUMERIC: bool = false;
            fn add(&mut self, _other: &Self) {}
            fn compare(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
    )*};
}
ordered_field!(String, bool, char);

/// A type whose fields can be aggregated by position.
pub trait Fields: Clone {
    /// Whether field `position` exists, and if so whether it is numeric.
    fn field_is_numeric(position: usize) -> Option<bool>;
    /// Adds field `position` of `other` to this one.
    fn add_field(&mut self, position: usize, other: &Self);
    /// Orders field `position` of this and `other`.
    fn compare_field(&self, position: usize, other: &Self) -> Option<Ordering>;
    /// Copies field `position` of `other` into this one.
    fn copy_field(&mut self, position: usize, other: &Self);
    /// How the type is named in messages.
    fn type_description() -> &'static str {
        std::any::type_name::<Self>()
    }
}

macro_rules! scalar_fields {
    ($($t:ty),*) => {$(
        impl Fields for $t {
            fn field_is_numeric(position: usize) -> Option<bool> {
                (position == 0).then_some(<$t as FieldValue>::NUMERIC)
            }
            fn add_field(&mut self, _position: usize, other: &Self) {
                FieldValue::add(self, other);
            }
            fn compare_field(&self, _position: usize, other: &Self) -> Option<Ordering> {
                FieldValue::compare(self, other)
            }
            fn copy_field(&mut self, _position: usize, other: &Self) {
                *self = other.clone();
            }
        }
    )*};
}
scalar_fields!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64);

macro_rules! tuple_fields {
    ($($name:ident $index:tt),+) => {
        impl<$($name: FieldValue),+> Fields for ($($name,)+) {
            fn field_is_numeric(position: usize) -> Option<bool> {
                match position {
                    $($index => Some($name::NUMERIC),)+
                    _ => None,
                }
            }
            fn add_field(&mut self, position: usize, other: &Self) {
                match position {
                    $($index => self.$index.add(&other.$index),)+
                    _ => {}
                }
            }
            fn compare_field(&self, position: usize, other: &Self) -> Option<Ordering> {
                match position {
                    $($index => self.$index.compare(&other.$index),)+
                    _ => None,
                }
            }
            fn copy_field(&mut self, position: usize, other: &Self) {
                match position {
                    $($index => self.$index = other.$index.clone(),)+
                    _ => {}
                }
            }
        }
    };
}
tuple_fields!(A 0);
tuple_fields!(A 0, B 1);
tuple_fields!(A 0, B 1, C 2);
tuple_fields!(A 0, B 1, C 2, D 3);
tuple_fields!(A 0, B 1, C 2, D 3, E 4);
tuple_fields!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_fields!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_fields!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_expose_their_fields_by_position() {
        assert_eq!(<(String, u64)>::field_is_numeric(1), Some(true));
        assert_eq!(<(String, u64)>::field_is_numeric(0), Some(false));
        assert_eq!(<(String, u64)>::field_is_numeric(2), None);
        let mut a = ("x".to_string(), 2u64, 1.5f64);
        a.add_field(1, &("y".to_string(), 3, 0.0));
        assert_eq!(a, ("x".to_string(), 5, 1.5));
        assert_eq!(
            a.compare_field(2, &("z".to_string(), 0, 2.5)),
            Some(Ordering::Less)
        );
        let mut n = i32::MAX;
        n.add_field(0, &1);
        assert_eq!(n, i32::MIN, "sums wrap like Java's");
    }
}
