//! The Nexmark events — people, auctions and bids of an online auction site — and their
//! JSON form, the one Flink's Nexmark tables read: one object per line with `event_type` (0
//! person, 1 auction, 2 bid) and the three rows `person`, `auction`, `bid` of which one is set,
//! field names in camelCase, times as `yyyy-MM-dd HH:mm:ss.SSS` (UTC).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strom_core::Timestamp;

/// A new user of the auction site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// Person id (from 1000).
    pub id: i64,
    /// First and last name.
    pub name: String,
    /// E-mail address.
    pub email_address: String,
    /// Four groups of four digits.
    pub credit_card: String,
    /// City.
    pub city: String,
    /// US state code.
    pub state: String,
    /// Event time, milliseconds since the epoch.
    #[serde(with = "sql_timestamp")]
    pub date_time: Timestamp,
    /// Padding to the configured average size.
    pub extra: String,
}

/// An item put up for auction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Auction {
    /// Auction id (from 1000).
    pub id: i64,
    /// The item's name.
    pub item_name: String,
    /// The item's description.
    pub description: String,
    /// Opening price, in cents.
    pub initial_bid: i64,
    /// Reserve price, in cents.
    pub reserve: i64,
    /// Event time, milliseconds since the epoch.
    #[serde(with = "sql_timestamp")]
    pub date_time: Timestamp,
    /// When the auction closes, milliseconds since the epoch.
    #[serde(with = "sql_timestamp")]
    pub expires: Timestamp,
    /// The selling person's id.
    pub seller: i64,
    /// Category id (10 to 14).
    pub category: i64,
    /// Padding to the configured average size.
    pub extra: String,
}

/// A bid on an auction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bid {
    /// The auction's id.
    pub auction: i64,
    /// The bidding person's id.
    pub bidder: i64,
    /// Price, in cents.
    pub price: i64,
    /// Where the bid came from.
    pub channel: String,
    /// The page the bid was made on.
    pub url: String,
    /// Event time, milliseconds since the epoch.
    #[serde(with = "sql_timestamp")]
    pub date_time: Timestamp,
    /// Padding to the configured average size.
    pub extra: String,
}

/// One Nexmark event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

impl Event {
    /// The event's time, milliseconds since the epoch.
    pub fn date_time(&self) -> Timestamp {
        match self {
            Event::Person(person) => person.date_time,
            Event::Auction(auction) => auction.date_time,
            Event::Bid(bid) => bid.date_time,
        }
    }

    /// The event as one line of JSON (without the line break).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events always serialize")
    }

    /// An event from one line of JSON.
    pub fn from_json(line: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(line)
    }
}

/// The JSON shape of an event: its type and three rows, one of them set.
#[derive(Serialize, Deserialize)]
struct EventRow<P, A, B> {
    event_type: u8,
    person: Option<P>,
    auction: Option<A>,
    bid: Option<B>,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row: EventRow<&Person, &Auction, &Bid> = match self {
            Event::Person(person) => EventRow {
                event_type: 0,
                person: Some(person),
                auction: None,
                bid: None,
            },
            Event::Auction(auction) => EventRow {
                event_type: 1,
                person: None,
                auction: Some(auction),
                bid: None,
            },
            Event::Bid(bid) => EventRow {
                event_type: 2,
                person: None,
                auction: None,
                bid: Some(bid),
            },
        };
        row.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let row = EventRow::<Person, Auction, Bid>::deserialize(deserializer)?;
        match (row.event_type, row.person, row.auction, row.bid) {
            (0, Some(person), _, _) => Ok(Event::Person(person)),
            (1, _, Some(auction), _) => Ok(Event::Auction(auction)),
            (2, _, _, Some(bid)) => Ok(Event::Bid(bid)),
            (kind, ..) => Err(D::Error::custom(format!(
                "event_type {kind} without its row (0 person, 1 auction, 2 bid)"
            ))),
        }
    }
}

/// Times as SQL writes them, `yyyy-MM-dd HH:mm:ss.SSS` in UTC, as Flink's JSON format does.
mod sql_timestamp {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        millis: &Timestamp,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_utc(*millis))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Timestamp, D::Error> {
        use serde::de::Error;
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        parse_utc(&text).ok_or_else(|| {
            D::Error::custom(format!(
                "'{text}' is not a time like 2015-07-15 00:00:00.000"
            ))
        })
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a number of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `millis` since the epoch as `yyyy-MM-dd HH:mm:ss.SSS` (UTC).
pub fn format_utc(millis: Timestamp) -> String {
    let (days, in_day) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// Reads `yyyy-MM-dd HH:mm:ss[.fraction]` (UTC; a `T` may stand for the space) as
/// milliseconds since the epoch; `None` for anything else (other shapes, signs, impossible
/// dates). Every field has its fixed width, as SQL writes times, so reading is a few byte
/// operations: times are in every event of a Nexmark file.
pub fn parse_utc(text: &str) -> Option<Timestamp> {
    let bytes = text.trim().as_bytes();
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b' ' | b'T')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        bytes[range].iter().try_fold(0i64, |value, &byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + i64::from(byte - b'0'))
        })
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let millis = match &bytes[19..] {
        [] => 0,
        [b'.', fraction @ ..] if !fraction.is_empty() && fraction.len() <= 9 => {
            let mut millis = 0;
            for (index, &byte) in fraction.iter().enumerate() {
                if !byte.is_ascii_digit() {
                    return None;
                }
                if index < 3 {
                    millis += i64::from(byte - b'0') * [100, 10, 1][index];
                }
            }
            millis
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_and_read_as_sql_writes_them() {
        // 2015-07-15T00:00:00Z, Nexmark's base time.
        assert_eq!(format_utc(1_436_918_400_000), "2015-07-15 00:00:00.000");
        assert_eq!(format_utc(951_782_400_123), "2000-02-29 00:00:00.123");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59.999");
        for millis in [0, 1_436_918_400_010, 951_782_400_123, 4_102_444_799_999, -1] {
            assert_eq!(parse_utc(&format_utc(millis)), Some(millis));
        }
        assert_eq!(parse_utc("2015-07-15 00:00:01"), Some(1_436_918_401_000));
        assert_eq!(parse_utc("2015-07-15 00:00:01.5"), Some(1_436_918_401_500));
        assert_eq!(
            parse_utc("2016-02-29T00:00:00.123456"),
            Some(1_456_704_000_123)
        );
        for wrong in [
            "2015-13-15 00:00:01",
            "2015-02-31 00:00:00",
            "2015-07-15 -5:00:00",
            "2015-07-15 +3:00:00",
            "2015-07-15 00:00:-9223372036854775808",
            "99999999999-07-15 00:00:00",
            "2015-02-29 00:00:00",
            "2015-07-15 00:00:00.",
            "2015-07-15 00:00:00x",
            "yesterday",
        ] {
            assert_eq!(parse_utc(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn an_event_is_one_json_object_with_flinks_field_names() {
        let bid = Event::Bid(Bid {
            auction: 1000,
            bidder: 1001,
            price: 1234,
            channel: "Google".into(),
            url: "https://www.nexmark.com/a/b/c/item.htm?query=1".into(),
            date_time: 1_436_918_400_010,
            extra: "xyz".into(),
        });
        let json = bid.to_json();
        assert_eq!(
            json,
            r#"{"event_type":2,"person":null,"auction":null,"bid":{"auction":1000,"bidder":1001,"price":1234,"channel":"Google","url":"https://www.nexmark.com/a/b/c/item.htm?query=1","dateTime":"2015-07-15 00:00:00.010","extra":"xyz"}}"#
        );
        assert_eq!(Event::from_json(&json).unwrap(), bid);
        let wrong = r#"{"event_type":1,"person":null,"auction":null,"bid":null}"#;
        assert!(Event::from_json(wrong)
            .unwrap_err()
            .to_string()
            .contains("event_type 1 without its row"));
    }
}
