//! Each query on a small generated input (20,000 events from two readers at 100 events per
//! second of event time, so 200 s and many windows), checked against the same query computed
//! here directly from the generator's events with plain collections.

use std::collections::BTreeMap;

use strom::connectors::nexmark::{Auction, Bid, Event, Generator, GeneratorConfig, NexmarkSource};
use strom::core::StreamData;
use strom::prelude::*;

const EVENTS: u64 = 20_000;
const READERS: usize = 2;

fn config() -> GeneratorConfig {
    GeneratorConfig {
        events_per_second: 100,
        ..GeneratorConfig::default()
    }
}

/// The events the source generates: each reader's block of ids, numbered from 0.
fn all_events() -> Vec<Event> {
    let generator = Generator::new(config(), READERS);
    let share = EVENTS / READERS as u64;
    (0..READERS as u64)
        .flat_map(|reader| {
            let generator = generator.clone();
            (0..share).map(move |n| generator.event((reader * share + n) as i64, n))
        })
        .collect()
}

fn all_bids() -> Vec<Bid> {
    all_events()
        .into_iter()
        .filter_map(|event| match event {
            Event::Bid(bid) => Some(bid),
            _ => None,
        })
        .collect()
}

/// Runs `query` on the generated events and returns its results as they arrived.
fn collect<T: StreamData>(query: fn(&DataStream<Event>) -> DataStream<T>) -> Vec<T> {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(READERS);
    let events = env.from_source(
        NexmarkSource::new(Some(EVENTS)).with_config(config()),
        WatermarkStrategy::for_monotonous_timestamps(),
        "Nexmark",
    );
    query(&events).execute_and_collect().unwrap()
}

/// Runs `query` on the generated events and returns its results, sorted.
fn run<T: StreamData + Ord>(query: fn(&DataStream<Event>) -> DataStream<T>) -> Vec<T> {
    sorted(collect(query))
}

fn sorted<T: Ord>(mut values: Vec<T>) -> Vec<T> {
    values.sort();
    values
}

#[test]
fn q0_q1_and_q2_pass_convert_and_select_bids() {
    let bids = all_bids();
    let rows = |price: fn(i64) -> i64| -> Vec<strom_nexmark::BidRow> {
        sorted(
            bids.iter()
                .map(|b| {
                    (
                        b.auction,
                        b.bidder,
                        price(b.price),
                        b.date_time,
                        b.extra.clone(),
                    )
                })
                .collect(),
        )
    };
    assert_eq!(run(strom_nexmark::q0), rows(|price| price));
    assert_eq!(run(strom_nexmark::q1), rows(|price| price * 908));
    let selected: Vec<(i64, i64)> = sorted(
        bids.iter()
            .filter(|b| b.auction % 123 == 0)
            .map(|b| (b.auction, b.price))
            .collect(),
    );
    assert!(!selected.is_empty());
    assert_eq!(run(strom_nexmark::q2), selected);
}

#[test]
fn q3_joins_auctions_in_category_10_with_their_western_sellers() {
    let events = all_events();
    let mut people = BTreeMap::new();
    for event in &events {
        if let Event::Person(person) = event {
            people.insert(person.id, person.clone());
        }
    }
    let expected: Vec<(String, String, String, i64)> = sorted(
        events
            .iter()
            .filter_map(|event| match event {
                Event::Auction(auction) if auction.category == 10 => {
                    let seller = people.get(&auction.seller)?;
                    ["OR", "ID", "CA"]
                        .contains(&seller.state.as_str())
                        .then(|| {
                            (
                                seller.name.clone(),
                                seller.city.clone(),
                                seller.state.clone(),
                                auction.id,
                            )
                        })
                }
                _ => None,
            })
            .collect(),
    );
    assert!(!expected.is_empty());
    assert_eq!(run(strom_nexmark::q3), expected);
}

#[test]
fn q5_finds_the_auctions_with_the_most_bids_per_sliding_window() {
    let (size, slide) = (10_000, 2_000);
    let mut per_window: BTreeMap<i64, BTreeMap<i64, u64>> = BTreeMap::new();
    for bid in all_bids() {
        let last_start = bid.date_time - bid.date_time.rem_euclid(slide);
        let mut start = last_start;
        while start > bid.date_time - size {
            *per_window
                .entry(start + size)
                .or_default()
                .entry(bid.auction)
                .or_default() += 1;
            start -= slide;
        }
    }
    let mut expected = Vec::new();
    for (end, counts) in per_window {
        let most = *counts.values().max().unwrap();
        for (auction, count) in counts {
            if count == most {
                expected.push((auction, count, end));
            }
        }
    }
    assert_eq!(run(strom_nexmark::q5), sorted(expected));
}

#[test]
fn q7_keeps_the_highest_bids_per_tumbling_window() {
    let mut per_window: BTreeMap<i64, Vec<Bid>> = BTreeMap::new();
    for bid in all_bids() {
        per_window
            .entry(bid.date_time / 10_000)
            .or_default()
            .push(bid);
    }
    let mut expected = Vec::new();
    for bids in per_window.values() {
        let highest = bids.iter().map(|b| b.price).max().unwrap();
        for b in bids.iter().filter(|b| b.price == highest) {
            expected.push((b.auction, b.price, b.bidder, b.date_time, b.extra.clone()));
        }
    }
    assert!(expected.len() >= 20);
    assert_eq!(run(strom_nexmark::q7), sorted(expected));
}

#[test]
fn q11_counts_bids_per_bidder_session() {
    let gap = 10_000;
    let mut per_bidder: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for bid in all_bids() {
        per_bidder
            .entry(bid.bidder)
            .or_default()
            .push(bid.date_time);
    }
    let mut expected = Vec::new();
    for (bidder, mut times) in per_bidder {
        times.sort();
        let (mut start, mut last, mut count) = (times[0], times[0], 0u64);
        for time in times {
            // Flink merges sessions that touch: a bid exactly one gap after the last one
            // still belongs to the session (`TimeWindow::intersects` includes the ends).
            if time > last + gap {
                expected.push((bidder, count, start, last + gap));
                (start, count) = (time, 0);
            }
            last = time;
            count += 1;
        }
        expected.push((bidder, count, start, last + gap));
    }
    assert_eq!(run(strom_nexmark::q11), sorted(expected));
}

#[test]
fn q8_finds_people_who_registered_and_sold_in_the_same_window() {
    let events = all_events();
    let mut people: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    let mut sellers: BTreeMap<i64, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for event in &events {
        match event {
            Event::Person(p) => people
                .entry(p.date_time / 10_000)
                .or_default()
                .push((p.id, p.name.clone())),
            Event::Auction(a) => {
                sellers
                    .entry(a.date_time / 10_000)
                    .or_default()
                    .insert(a.seller);
            }
            Event::Bid(_) => {}
        }
    }
    let mut expected = Vec::new();
    for (window, registered) in people {
        for (id, name) in registered {
            if sellers.get(&window).is_some_and(|s| s.contains(&id)) {
                expected.push((id, name, window * 10_000));
            }
        }
    }
    assert!(!expected.is_empty());
    assert_eq!(run(strom_nexmark::q8), sorted(expected));
}

/// Each auction `(id, category, seller, expires)` with its winning price: the highest of the
/// bids made while it was open.
fn winning_prices() -> Vec<((i64, i64, i64, i64), i64)> {
    let mut auctions = BTreeMap::new();
    for event in all_events() {
        if let Event::Auction(a) = event {
            auctions.insert(a.id, a);
        }
    }
    let mut winning: BTreeMap<i64, i64> = BTreeMap::new();
    for bid in all_bids() {
        if let Some(auction) = auctions.get(&bid.auction) {
            if (auction.date_time..=auction.expires).contains(&bid.date_time) {
                let best = winning.entry(bid.auction).or_insert(bid.price);
                *best = (*best).max(bid.price);
            }
        }
    }
    winning
        .into_iter()
        .map(|(id, price)| {
            let a = &auctions[&id];
            ((id, a.category, a.seller, a.expires), price)
        })
        .collect()
}

#[test]
fn q4_averages_the_winning_bids_per_category() {
    let mut per_category: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for ((_, category, _, _), price) in winning_prices() {
        per_category.entry(category).or_default().push(price);
    }
    let expected: BTreeMap<i64, i64> = per_category
        .into_iter()
        .map(|(category, prices)| (category, prices.iter().sum::<i64>() / prices.len() as i64))
        .collect();
    // The updating result's last value per category is the final average (one subtask owns
    // a category, and its updates arrive in order).
    let updates = collect(strom_nexmark::q4);
    let last: BTreeMap<i64, i64> = updates.into_iter().collect();
    assert_eq!(expected.len(), 5);
    assert_eq!(last, expected);
}

#[test]
fn q6_averages_each_sellers_last_ten_closed_auctions() {
    // Each seller's closed auctions in the order they closed: expiry, then id.
    let mut per_seller: BTreeMap<i64, Vec<(i64, i64, i64)>> = BTreeMap::new();
    for ((id, _, seller, expires), price) in winning_prices() {
        per_seller
            .entry(seller)
            .or_default()
            .push((expires, id, price));
    }
    let mut expected: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (seller, mut closed) in per_seller {
        closed.sort();
        let prices: Vec<i64> = closed.iter().map(|(_, _, price)| *price).collect();
        let averages = (1..=prices.len()).map(|n| {
            let latest = &prices[n.saturating_sub(10)..n];
            latest.iter().sum::<i64>() / latest.len() as i64
        });
        expected.insert(seller, averages.collect());
    }
    // One subtask owns a seller, and its averages arrive in order.
    let mut actual: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (seller, average) in collect(strom_nexmark::q6) {
        actual.entry(seller).or_default().push(average);
    }
    assert!(
        expected.values().any(|averages| averages.len() > 10),
        "some seller closes more than ten auctions"
    );
    assert_eq!(actual, expected);
}

fn auction(id: i64, seller: i64, opened: i64, expires: i64) -> Event {
    Event::Auction(Auction {
        id,
        item_name: String::new(),
        description: String::new(),
        initial_bid: 1,
        reserve: 1,
        date_time: opened,
        expires,
        seller,
        category: 10,
        extra: String::new(),
    })
}

fn bid(auction: i64, price: i64, date_time: i64) -> Event {
    Event::Bid(Bid {
        auction,
        bidder: 1,
        price,
        channel: String::new(),
        url: String::new(),
        date_time,
        extra: String::new(),
    })
}

/// A watermark 10 ms behind every event, so auctions close in the middle of the input.
struct TenBehindEachEvent;

impl WatermarkGenerator<Event> for TenBehindEachEvent {
    fn on_event(&mut self, _event: &Event, timestamp: i64, output: &mut WatermarkOutput) {
        output.emit_watermark(Watermark(timestamp - 10));
    }
    fn on_periodic_emit(&mut self, _output: &mut WatermarkOutput) {}
}

#[test]
fn q6_closes_auctions_as_the_watermark_passes_them() {
    let mut events = vec![
        auction(1, 7, 0, 100),
        bid(1, 50, 10),
        bid(1, 70, 20),
        bid(2, 300, 30), // before its auction, which opened at 25
        auction(2, 7, 25, 150),
        auction(3, 7, 40, 150), // closes with auction 2: after it, by id
        bid(3, 200, 60),
        auction(4, 7, 70, 120), // no bids: no result
        bid(1, 1_000, 90),
        auction(5, 8, 95, 110),
        bid(5, 444, 100),
        bid(1, 5_000, 130), // after auction 1 closed
        bid(1, 9_999, 95),  // in auction 1's time, but late: the watermark passed its close
    ];
    // Twelve more auctions of seller 7, so that the oldest fall out of the last ten.
    for id in 10..=21 {
        events.push(auction(id, 7, 160, 200 + id));
        events.push(bid(id, 100 * id, 170));
    }
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(1);
    let events = env
        .from_collection(events)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_generator(|| TenBehindEachEvent)
                .with_timestamp_assigner(|event: &Event, _| event.date_time()),
        );
    let mut per_seller: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (seller, average) in strom_nexmark::q6(&events).execute_and_collect().unwrap() {
        per_seller.entry(seller).or_default().push(average);
    }
    // Seller 7's winning prices in closing order: 1000 (auction 1), 300 and 200 (auctions 2
    // and 3, both at 150), then 1000, 1100, ..., 2100 (auctions 10 to 21).
    let expected = BTreeMap::from([
        (
            7,
            vec![
                1000, 650, 500, 625, 720, 800, 871, 937, 1000, 1060, 1130, 1280, 1450, 1550, 1650,
            ],
        ),
        (8, vec![444]),
    ]);
    assert_eq!(per_seller, expected);
}
