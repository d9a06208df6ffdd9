//! The Nexmark event generator, after the one in Apache Beam's Nexmark suite (which Flink's
//! Nexmark suite derives from): event ids 0, 1, 2, ... fall into blocks of 50 — one person,
//! three auctions, 46 bids — and every event is computed from its id alone, with a
//! `java.util.Random` seeded with the id, so any reader can generate any share of the stream
//! and the same id always gives the same event. Bids pick "hot" auctions and bidders most of
//! the time and otherwise recent ones; auctions are sold by hot or recent people.
//!
//! Where Beam and Flink differ (see `docs/nexmark-generator.md`), Strom takes:
//! - Beam's seeding: one `java.util.Random` per event, seeded with its id (Flink shares one
//!   unseeded generator, so its events cannot be reproduced);
//! - Beam's start: event id 0 (a person) at 2015-07-15 00:00 UTC (Flink starts at id 2 and the
//!   current time);
//! - bidders offset once (Flink adds the person-id offset to bidders twice);
//! - Flink's bid fields `channel` and `url` (Beam's bids have none), drawn after the price from
//!   the same random numbers, so only their shape matches Flink's.

use std::sync::OnceLock;

use strom_core::Timestamp;

use super::java_random::JavaRandom;
use super::model::{Auction, Bid, Event, Person};

/// Ids of people and auctions start here.
const FIRST_PERSON_ID: i64 = 1000;
const FIRST_AUCTION_ID: i64 = 1000;
/// Categories are 10 to 14.
const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: i32 = 5;
/// A block of event ids: one person, then three auctions, then 46 bids.
const PERSON_PROPORTION: i64 = 1;
const AUCTION_PROPORTION: i64 = 3;
const PROPORTION_DENOMINATOR: i64 = 50;
/// Bids and auctions may refer to people and auctions this far ahead of the newest.
const PERSON_ID_LEAD: i64 = 10;
const AUCTION_ID_LEAD: i64 = 10;
/// Hot people and auctions are every hundredth one.
const HOT_BUCKET: i64 = 100;
/// 2015-07-15T00:00:00Z, the time of event number 0.
pub const BASE_TIME: Timestamp = 1_436_918_400_000;

const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
/// Bids off the hot channels name one of this many numbered channels.
const NUMBERED_CHANNELS: i32 = 10_000;

/// What the generator makes, with Beam's and Flink's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Events per second of event time over all readers (`firstEventRate`).
    pub events_per_second: u64,
    /// Auctions open at once, roughly (`numInFlightAuctions`).
    pub in_flight_auctions: i64,
    /// People who bid and sell, roughly (`numActivePeople`).
    pub active_people: i64,
    /// One bid in this many goes to an auction that is not hot (`hotAuctionRatio`).
    pub hot_auction_ratio: i32,
    /// One auction in this many is sold by someone who is not hot (`hotSellersRatio`).
    pub hot_sellers_ratio: i32,
    /// One bid in this many comes from someone who is not hot (`hotBiddersRatio`).
    pub hot_bidders_ratio: i32,
    /// Average sizes of the events, padded with `extra`.
    pub avg_person_bytes: i64,
    /// See `avg_person_bytes`.
    pub avg_auction_bytes: i64,
    /// See `avg_person_bytes`.
    pub avg_bid_bytes: i64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            events_per_second: 10_000,
            in_flight_auctions: 100,
            active_people: 1000,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            avg_person_bytes: 200,
            avg_auction_bytes: 500,
            avg_bid_bytes: 100,
        }
    }
}

/// Generates the events of one reader: ids from `first_event_id`, times on a timeline where
/// `readers` readers together make `events_per_second`.
#[derive(Debug, Clone)]
pub struct Generator {
    config: GeneratorConfig,
    /// Microseconds of event time between two of this reader's events.
    inter_event_delay_us: i64,
}

impl Generator {
    /// A generator for one of `readers` parallel readers.
    pub fn new(config: GeneratorConfig, readers: usize) -> Self {
        let rate = config.events_per_second.max(1) as i64;
        // Beam's rounding of the period, times the readers sharing the rate.
        let inter_event_delay_us = (1_000_000 + rate / 2) / rate * readers.max(1) as i64;
        Generator {
            config,
            inter_event_delay_us,
        }
    }

    /// The event time of a reader's event number `number` (0, 1, ...).
    pub fn timestamp(&self, number: u64) -> Timestamp {
        BASE_TIME + (number as i64 * self.inter_event_delay_us) / 1000
    }

    /// The event with id `event_id`, the reader's event number `number`.
    pub fn event(&self, event_id: i64, number: u64) -> Event {
        let mut random = JavaRandom::new(event_id);
        let time = self.timestamp(number);
        let offset = event_id % PROPORTION_DENOMINATOR;
        if offset < PERSON_PROPORTION {
            Event::Person(self.person(event_id, time, &mut random))
        } else if offset < PERSON_PROPORTION + AUCTION_PROPORTION {
            Event::Auction(self.auction(event_id, number, time, &mut random))
        } else {
            Event::Bid(self.bid(event_id, time, &mut random))
        }
    }

    fn person(&self, event_id: i64, time: Timestamp, random: &mut JavaRandom) -> Person {
        let id = last_base0_person_id(event_id) + FIRST_PERSON_ID;
        let name = format!(
            "{} {}",
            FIRST_NAMES[random.next_int_below(FIRST_NAMES.len() as i32) as usize],
            LAST_NAMES[random.next_int_below(LAST_NAMES.len() as i32) as usize]
        );
        let email_address = format!("{}@{}.com", next_string(random, 7), next_string(random, 5));
        let credit_card = (0..4)
            .map(|_| format!("{:04}", random.next_int_below(10_000)))
            .collect::<Vec<_>>()
            .join(" ");
        let city = CITIES[random.next_int_below(CITIES.len() as i32) as usize].to_string();
        let state = STATES[random.next_int_below(STATES.len() as i32) as usize].to_string();
        let size =
            8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
        let extra = next_extra(random, size as i64, self.config.avg_person_bytes);
        Person {
            id,
            name,
            email_address,
            credit_card,
            city,
            state,
            date_time: time,
            extra,
        }
    }

    fn auction(
        &self,
        event_id: i64,
        number: u64,
        time: Timestamp,
        random: &mut JavaRandom,
    ) -> Auction {
        let id = last_base0_auction_id(event_id) + FIRST_AUCTION_ID;
        let seller = if random.next_int_below(self.config.hot_sellers_ratio) > 0 {
            (last_base0_person_id(event_id) / HOT_BUCKET) * HOT_BUCKET
        } else {
            self.next_base0_person_id(event_id, random)
        } + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + random.next_int_below(NUM_CATEGORIES) as i64;
        let initial_bid = next_price(random);
        // An auction stays open about as long as it takes to generate the auctions in flight.
        let events_for_auctions =
            self.config.in_flight_auctions * PROPORTION_DENOMINATOR / AUCTION_PROPORTION;
        let horizon = self.timestamp(number + events_for_auctions as u64) - time;
        let expires = time + 1 + next_long(random, (2 * horizon).max(1));
        let item_name = next_string(random, 20);
        let description = next_string(random, 100);
        let reserve = initial_bid + next_price(random);
        let size = 8 + item_name.len() as i64 + description.len() as i64 + 40;
        let extra = next_extra(random, size, self.config.avg_auction_bytes);
        Auction {
            id,
            item_name,
            description,
            initial_bid,
            reserve,
            date_time: time,
            expires,
            seller,
            category,
            extra,
        }
    }

    fn bid(&self, event_id: i64, time: Timestamp, random: &mut JavaRandom) -> Bid {
        let auction = if random.next_int_below(self.config.hot_auction_ratio) > 0 {
            (last_base0_auction_id(event_id) / HOT_BUCKET) * HOT_BUCKET
        } else {
            self.next_base0_auction_id(event_id, random)
        } + FIRST_AUCTION_ID;
        let bidder = if random.next_int_below(self.config.hot_bidders_ratio) > 0 {
            (last_base0_person_id(event_id) / HOT_BUCKET) * HOT_BUCKET + 1
        } else {
            self.next_base0_person_id(event_id, random)
        } + FIRST_PERSON_ID;
        let price = next_price(random);
        let channels = channels();
        let (channel, url) = if random.next_int_below(2) > 0 {
            let hot = random.next_int_below(HOT_CHANNELS.len() as i32) as usize;
            (
                HOT_CHANNELS[hot].to_string(),
                channels.hot_urls[hot].clone(),
            )
        } else {
            let channel = random.next_int_below(NUMBERED_CHANNELS) as usize;
            channels.numbered[channel].clone()
        };
        let extra = next_extra(random, 32, self.config.avg_bid_bytes);
        Bid {
            auction,
            bidder,
            price,
            channel,
            url,
            date_time: time,
            extra,
        }
    }

    /// A person who may bid or sell now: one of the most recent active people, or slightly
    /// ahead of the newest.
    fn next_base0_person_id(&self, event_id: i64, random: &mut JavaRandom) -> i64 {
        let people = last_base0_person_id(event_id) + 1;
        let active = people.min(self.config.active_people);
        people - active + next_long(random, active + PERSON_ID_LEAD)
    }

    /// An auction that may get a bid now: one of the auctions in flight, or slightly ahead.
    fn next_base0_auction_id(&self, event_id: i64, random: &mut JavaRandom) -> i64 {
        let max = last_base0_auction_id(event_id);
        let min = (max - self.config.in_flight_auctions).max(0);
        min + next_long(random, max - min + 1 + AUCTION_ID_LEAD)
    }
}

/// The newest person (from 0) at event `event_id`.
fn last_base0_person_id(event_id: i64) -> i64 {
    let epoch = event_id / PROPORTION_DENOMINATOR;
    let offset = (event_id % PROPORTION_DENOMINATOR).min(PERSON_PROPORTION - 1);
    epoch * PERSON_PROPORTION + offset
}

/// The newest auction (from 0) at event `event_id`.
fn last_base0_auction_id(event_id: i64) -> i64 {
    let epoch = event_id / PROPORTION_DENOMINATOR;
    let offset = event_id % PROPORTION_DENOMINATOR;
    if offset < PERSON_PROPORTION {
        // A person: the last auction of the block before.
        (epoch - 1) * AUCTION_PROPORTION + AUCTION_PROPORTION - 1
    } else if offset >= PERSON_PROPORTION + AUCTION_PROPORTION {
        // A bid: the last auction of this block.
        epoch * AUCTION_PROPORTION + AUCTION_PROPORTION - 1
    } else {
        epoch * AUCTION_PROPORTION + offset - PERSON_PROPORTION
    }
}

/// Beam's `nextLong(random, n)`: uniform in `0..n`.
fn next_long(random: &mut JavaRandom, n: i64) -> i64 {
    if n < i32::MAX as i64 {
        random.next_int_below(n as i32) as i64
    } else {
        random.next_long().wrapping_rem(n).abs()
    }
}

/// Java's `Math.round`: the nearest integer, halves up.
fn java_round(value: f64) -> i64 {
    (value + 0.5).floor() as i64
}

/// A price in cents, log-uniform from $1 to $1,000,000.
fn next_price(random: &mut JavaRandom) -> i64 {
    java_round(10f64.powf(random.next_double() * 6.0) * 100.0)
}

/// A word or two of lowercase letters, 3 to `max - 1` characters before trimming.
fn next_string(random: &mut JavaRandom, max: i32) -> String {
    next_string_with_space(random, max, ' ')
}

fn next_string_with_space(random: &mut JavaRandom, max: i32, space: char) -> String {
    let len = 3 + random.next_int_below(max - 3);
    let text: String = (0..len)
        .map(|_| {
            if random.next_int_below(13) == 0 {
                space
            } else {
                (b'a' + random.next_int_below(26) as u8) as char
            }
        })
        .collect();
    text.trim_matches(' ').to_string()
}

/// `len` characters, six from each random `i32` (Java's signed arithmetic, so some are upper
/// case letters and punctuation).
fn next_exact_string(random: &mut JavaRandom, len: i64) -> String {
    let mut rnd = 0i32;
    (0..len)
        .map(|index| {
            if index % 6 == 0 {
                rnd = random.next_int();
            }
            let character = (b'a' as i32 + rnd % 26) as u8 as char;
            rnd /= 26;
            character
        })
        .collect()
}

/// Padding that brings an event of `current` bytes to about `average` bytes.
fn next_extra(random: &mut JavaRandom, current: i64, average: i64) -> String {
    if current > average {
        return String::new();
    }
    let wanted = average - current;
    let delta = java_round(wanted as f64 * 0.2);
    let spread = if delta == 0 {
        0
    } else {
        random.next_int_below((2 * delta) as i32) as i64
    };
    next_exact_string(random, wanted - delta + spread)
}

/// The pages of the hot channels, and the names and pages of the numbered ones.
struct Channels {
    hot_urls: Vec<String>,
    numbered: Vec<(String, String)>,
}

/// Every channel's page, computed once: a page depends only on its channel.
fn channels() -> &'static Channels {
    static CHANNELS: OnceLock<Channels> = OnceLock::new();
    CHANNELS.get_or_init(|| Channels {
        hot_urls: (0..HOT_CHANNELS.len() as i32)
            .map(|hot| channel_url(hot, false))
            .collect(),
        numbered: (0..NUMBERED_CHANNELS)
            .map(|channel| (format!("channel-{channel}"), channel_url(channel, true)))
            .collect(),
    })
}

/// The page of a channel: the same for every bid of that channel.
fn channel_url(channel: i32, with_id: bool) -> String {
    let mut random = JavaRandom::new(i64::from(channel) + if with_id { 0 } else { 1 << 40 });
    let parts: Vec<String> = (0..3)
        .map(|_| next_string_with_space(&mut random, 5, '_'))
        .collect();
    let mut url = format!(
        "https://www.nexmark.com/{}/{}/{}/item.htm?query=1",
        parts[0], parts[1], parts[2]
    );
    if with_id && random.next_int_below(10) > 0 {
        url.push_str(&format!(
            "&channel_id={}",
            channel.reverse_bits().unsigned_abs()
        ));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_fifty_events_are_one_person_three_auctions_and_46_bids() {
        let generator = Generator::new(GeneratorConfig::default(), 1);
        let kinds: Vec<u8> = (0..100)
            .map(|id| match generator.event(id, id as u64) {
                Event::Person(_) => 0,
                Event::Auction(_) => 1,
                Event::Bid(_) => 2,
            })
            .collect();
        for block in kinds.chunks(50) {
            assert_eq!(block[0], 0);
            assert_eq!(&block[1..4], [1, 1, 1]);
            assert!(block[4..].iter().all(|&kind| kind == 2));
        }
        // Ids follow the blocks: person 1001 and auctions 1003..=1005 in the second block.
        let Event::Person(person) = generator.event(50, 50) else {
            unreachable!()
        };
        assert_eq!(person.id, 1001);
        let Event::Auction(auction) = generator.event(53, 53) else {
            unreachable!()
        };
        assert_eq!(auction.id, 1005);
        assert_eq!(generator.timestamp(100), BASE_TIME + 10);
        // Four readers share the rate: each one's events are four times further apart.
        assert_eq!(
            Generator::new(GeneratorConfig::default(), 4).timestamp(100),
            BASE_TIME + 40
        );
    }

    #[test]
    fn the_same_id_gives_the_same_event() {
        let generator = Generator::new(GeneratorConfig::default(), 1);
        for id in [0, 1, 7, 49, 12_345] {
            assert_eq!(generator.event(id, 3), generator.event(id, 3));
        }
        let Event::Bid(bid) = generator.event(12_345, 12_345) else {
            unreachable!()
        };
        assert!(bid.url.starts_with("https://www.nexmark.com/"));
        assert!((100..=100_000_000).contains(&bid.price));
        assert!(
            (54..=81).contains(&(bid.extra.len() as i64)),
            "{}",
            bid.extra.len()
        );
    }
}
