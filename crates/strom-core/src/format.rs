//! How records look as text: the form Flink's `toString()` gives them, so `print()` and
//! `write_as_text` produce the lines a Flink user expects (`(hello,3)` for a pair).
//!
//! Implemented for primitives, strings, `Option`, `Vec` and tuples up to twelve fields. For
//! your own types, implement [`Printable`] or, for a type that is `Display`, use
//! [`printable_via_display!`](crate::printable_via_display).

use std::fmt::Write;

/// A record that can be written as one line of text.
pub trait Printable {
    /// Appends the text form of `self` to `out`.
    fn print_to(&self, out: &mut String);

    /// The text form as a new string.
    fn to_text(&self) -> String {
        let mut out = String::new();
        self.print_to(&mut out);
        out
    }
}

/// Implements [`Printable`] for types through their `Display` implementation.
///
/// ```
/// use strom_core::format::Printable;
/// struct Celsius(f64);
/// impl std::fmt::Display for Celsius {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "{}°C", self.0)
///     }
/// }
/// strom_core::printable_via_display!(Celsius);
/// assert_eq!((String::from("kitchen"), Celsius(21.5)).to_text(), "(kitchen,21.5°C)");
/// ```
#[macro_export]
macro_rules! printable_via_display {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::format::Printable for $t {
            fn print_to(&self, out: &mut String) {
                use std::fmt::Write as _;
                let _ = write!(out, "{}", self);
            }
        }
    )*};
}

printable_via_display!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, bool, char, str, String
);

impl Printable for f32 {
    fn print_to(&self, out: &mut String) {
        print_float(f64::from(*self), out);
    }
}

impl Printable for f64 {
    fn print_to(&self, out: &mut String) {
        print_float(*self, out);
    }
}

/// Java prints whole doubles with a trailing `.0` (`2.0`); Rust prints `2`.
fn print_float(value: f64, out: &mut String) {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e16 {
        let _ = write!(out, "{value:.1}");
    } else if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{value}");
    }
}

impl<T: Printable + ?Sized> Printable for &T {
    fn print_to(&self, out: &mut String) {
        (**self).print_to(out);
    }
}

impl<T: Printable> Printable for Option<T> {
    fn print_to(&self, out: &mut String) {
        match self {
            Some(value) => value.print_to(out),
            None => out.push_str("null"),
        }
    }
}

impl<T: Printable> Printable for Vec<T> {
    fn print_to(&self, out: &mut String) {
        out.push('[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            item.print_to(out);
        }
        out.push(']');
    }
}

impl Printable for () {
    fn print_to(&self, out: &mut String) {
        out.push_str("()");
    }
}

macro_rules! printable_tuple {
    ($first:ident $(, $name:ident)*) => {
        impl<$first: Printable, $($name: Printable),*> Printable for ($first, $($name,)*) {
            #[allow(non_snake_case)]
            fn print_to(&self, out: &mut String) {
                let ($first, $($name,)*) = self;
                out.push('(');
                $first.print_to(out);
                $(out.push(','); $name.print_to(out);)*
                out.push(')');
            }
        }
    };
}

printable_tuple!(A);
printable_tuple!(A, B);
printable_tuple!(A, B, C);
printable_tuple!(A, B, C, D);
printable_tuple!(A, B, C, D, E);
printable_tuple!(A, B, C, D, E, F);
printable_tuple!(A, B, C, D, E, F, G);
printable_tuple!(A, B, C, D, E, F, G, H);
printable_tuple!(A, B, C, D, E, F, G, H, I);
printable_tuple!(A, B, C, D, E, F, G, H, I, J);
printable_tuple!(A, B, C, D, E, F, G, H, I, J, K);
printable_tuple!(A, B, C, D, E, F, G, H, I, J, K, L);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_print_like_flink() {
        assert_eq!((String::from("hello"), 3u64).to_text(), "(hello,3)");
        assert_eq!(("a", (1i32, 2.0f64), true).to_text(), "(a,(1,2.0),true)");
        assert_eq!(vec![1, 2].to_text(), "[1, 2]");
        assert_eq!(Option::<i32>::None.to_text(), "null");
        assert_eq!(0.25f64.to_text(), "0.25");
    }
}
