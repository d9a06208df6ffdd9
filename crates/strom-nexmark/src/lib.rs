//! The Nexmark benchmark's queries, written with Strom's public DataStream API as a user would
//! write them, after the SQL of Flink's Nexmark suite (`nexmark-flink/.../queries/q*.sql`).
//! Each takes the stream of [`Event`]s (with event-time timestamps and watermarks) and returns
//! the query's result stream; the benchmark runner sends it to a counting blackhole.
//!
//! | query | what it computes |
//! |---|---|
//! | q0 | pass-through: every bid |
//! | q1 | currency conversion: bid prices in euros (0.908 per dollar) |
//! | q2 | selection: bids on every 123rd auction |
//! | q3 | local item suggestion: sellers in OR, ID or CA of auctions in category 10 (a join) |
//! | q4 | average price per category: the mean winning bid of each category's auctions |
//! | q5 | hot items: the auctions with the most bids per 10 s window sliding by 2 s |
//! | q6 | average selling price by seller: the mean winning bid of each seller's last 10 closed auctions |
//! | q7 | highest bid: the bids with the highest price per 10 s window |
//! | q8 | monitor new users: people who registered and sold in the same 10 s window |
//! | q11 | user sessions: bids per bidder per session (10 s gap) |

use std::collections::VecDeque;
use std::time::Duration;

pub mod latency;
pub mod winning_bid;

use serde::{Deserialize, Serialize};
use strom::connectors::nexmark::{Auction, Bid, Event, Person};
use strom::core::format::Printable;
use strom::core::StreamData;
use strom::prelude::*;
use winning_bid::{winning_bids, Report, WinningBidChange};

/// Window sizes of Flink's Nexmark queries (the originals' hours scaled to seconds, as there).
const WINDOW: Duration = Duration::from_secs(10);
const SLIDE: Duration = Duration::from_secs(2);
const SESSION_GAP: Duration = Duration::from_secs(10);

/// The bids of the event stream.
pub fn bids(events: &DataStream<Event>) -> DataStream<Bid> {
    events.flat_map(|event: Event, out: &mut Collector<Bid>| {
        if let Event::Bid(bid) = event {
            out.collect(bid);
        }
    })
}

/// The auctions of the event stream.
pub fn auctions(events: &DataStream<Event>) -> DataStream<Auction> {
    events.flat_map(|event: Event, out: &mut Collector<Auction>| {
        if let Event::Auction(auction) = event {
            out.collect(auction);
        }
    })
}

/// The people of the event stream.
pub fn people(events: &DataStream<Event>) -> DataStream<Person> {
    events.flat_map(|event: Event, out: &mut Collector<Person>| {
        if let Event::Person(person) = event {
            out.collect(person);
        }
    })
}

/// A bid's columns as q0 and q1 select them: auction, bidder, price, date_time, extra.
pub type BidRow = (i64, i64, i64, i64, String);

/// q0, pass-through: every bid's columns.
pub fn q0(events: &DataStream<Event>) -> DataStream<BidRow> {
    bids(events).map(|bid: Bid| (bid.auction, bid.bidder, bid.price, bid.date_time, bid.extra))
}

/// q1, currency conversion: bids with their price in euros, 0.908 per dollar, as thousandths
/// of a cent (exactly `0.908 * price`, Flink's `DECIMAL(23, 3)`).
pub fn q1(events: &DataStream<Event>) -> DataStream<BidRow> {
    bids(events).map(|bid: Bid| {
        let euros = bid.price * 908;
        (bid.auction, bid.bidder, euros, bid.date_time, bid.extra)
    })
}

/// q2, selection: `(auction, price)` of the bids on auctions whose id is a multiple of 123.
pub fn q2(events: &DataStream<Event>) -> DataStream<(i64, i64)> {
    bids(events)
        .filter(|bid: &Bid| bid.auction % 123 == 0)
        .map(|bid: Bid| (bid.auction, bid.price))
}

/// q3, local item suggestion: `(name, city, state, auction id)` for every auction in category
/// 10 whose seller lives in Oregon, Idaho or California, whichever of the two came first.
pub fn q3(events: &DataStream<Event>) -> DataStream<(String, String, String, i64)> {
    let auctions = auctions(events).filter(|auction: &Auction| auction.category == 10);
    people(events)
        .connect(&auctions)
        .key_by(
            |person: &Person| person.id,
            |auction: &Auction| auction.seller,
        )
        .process(SellerJoin)
}

/// Joins each seller with their auctions: a person waits for auctions and auctions for their
/// seller, in the key's state (a regular, unwindowed join).
#[derive(Clone)]
struct SellerJoin;

/// What a seller's key holds: the person once seen (`None` inside for a person who lives
/// elsewhere: their auctions are dropped, not kept), and auctions that came before them.
#[derive(Default, Serialize, Deserialize)]
struct SellerState {
    person: Option<Option<(String, String, String)>>,
    waiting: Vec<i64>,
}

impl KeyedCoProcessFunction<i64, Person, Auction, (String, String, String, i64)> for SellerJoin {
    type State = SellerState;

    fn process_element1(
        &mut self,
        person: Person,
        ctx: &mut KeyedContext<'_, i64, SellerState>,
        out: &mut Collector<'_, (String, String, String, i64)>,
    ) -> Result<(), BoxError> {
        let state = ctx.state();
        let waiting = std::mem::take(&mut state.waiting);
        if !matches!(person.state.as_str(), "OR" | "ID" | "CA") {
            state.person = Some(None);
            return Ok(());
        }
        for auction in waiting {
            out.collect((
                person.name.clone(),
                person.city.clone(),
                person.state.clone(),
                auction,
            ));
        }
        state.person = Some(Some((person.name, person.city, person.state)));
        Ok(())
    }

    fn process_element2(
        &mut self,
        auction: Auction,
        ctx: &mut KeyedContext<'_, i64, SellerState>,
        out: &mut Collector<'_, (String, String, String, i64)>,
    ) -> Result<(), BoxError> {
        let state = ctx.state();
        match &state.person {
            Some(Some((name, city, region))) => {
                out.collect((name.clone(), city.clone(), region.clone(), auction.id))
            }
            Some(None) => {}
            None => state.waiting.push(auction.id),
        }
        Ok(())
    }
}

/// q4, average price per category: for each category, the average of the winning (highest)
/// bids of its auctions, counting only bids made while the auction was open; `(category,
/// average)` is emitted again whenever it changes (Flink's updating result; the average of
/// whole cents, rounded down, as Flink's `AVG` of a `BIGINT`).
pub fn q4(events: &DataStream<Event>) -> DataStream<(i64, i64)> {
    winning_bids(events, Report::RisesByCategory)
        .key_by(|change: &WinningBidChange| change.group)
        .process(AveragePerCategory)
}

/// Averages the winning bids of a category's auctions (their sum and number), emitting the
/// average when it changes.
#[derive(Clone)]
struct AveragePerCategory;

impl KeyedProcessFunction<i64, WinningBidChange, (i64, i64)> for AveragePerCategory {
    /// The sum of the winning bids, and how many auctions have one.
    type State = (i64, i64);

    fn process_element(
        &mut self,
        change: WinningBidChange,
        ctx: &mut KeyedContext<'_, i64, (i64, i64)>,
        out: &mut Collector<'_, (i64, i64)>,
    ) -> Result<(), BoxError> {
        let (sum, auctions) = ctx.state();
        *sum += change.price - change.previous.unwrap_or(0);
        if change.previous.is_none() {
            *auctions += 1;
        }
        out.collect((change.group, *sum / *auctions));
        Ok(())
    }
}

/// How many of a seller's latest closed auctions q6 averages.
const Q6_AUCTIONS: usize = 10;

/// q6, average selling price by seller: whenever one of a seller's auctions closes with a
/// winning bid, `(seller, average)` of the winning bids of the seller's last 10 closed
/// auctions (whole cents, rounded down), as the Nexmark benchmark defines it. Auctions count
/// in the order they closed (expiry, then id), whatever the parallelism.
pub fn q6(events: &DataStream<Event>) -> DataStream<(i64, i64)> {
    winning_bids(events, Report::ClosesBySeller)
        .key_by(|change: &WinningBidChange| change.group)
        .process(AverageOfLatestAuctions)
}

/// Keeps a seller's latest winning bids; closed auctions wait until the watermark has passed
/// their expiry, so that those from every upstream subtask are taken in the order they closed.
#[derive(Clone)]
struct AverageOfLatestAuctions;

/// A seller's closed auctions not yet counted `(expiry, auction, price)`, and the winning
/// prices of the latest counted ones, oldest first.
#[derive(Default, Serialize, Deserialize)]
struct SellerPrices {
    closed: Vec<(i64, i64, i64)>,
    latest: VecDeque<i64>,
}

impl KeyedProcessFunction<i64, WinningBidChange, (i64, i64)> for AverageOfLatestAuctions {
    type State = SellerPrices;

    fn process_element(
        &mut self,
        change: WinningBidChange,
        ctx: &mut KeyedContext<'_, i64, SellerPrices>,
        _out: &mut Collector<'_, (i64, i64)>,
    ) -> Result<(), BoxError> {
        // Winning bids are timestamped with their auction's expiry.
        let expires = ctx.timestamp().unwrap_or(i64::MIN);
        ctx.state()
            .closed
            .push((expires, change.auction, change.price));
        ctx.timer_service().register_event_time_timer(expires);
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        ctx: &mut KeyedContext<'_, i64, SellerPrices>,
        out: &mut Collector<'_, (i64, i64)>,
    ) -> Result<(), BoxError> {
        let seller = *ctx.get_current_key();
        let state = ctx.state();
        let (mut due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.closed)
            .into_iter()
            .partition(|(expires, _, _)| *expires <= timestamp);
        state.closed = waiting;
        due.sort_unstable();
        for (_, _, price) in due {
            if state.latest.len() == Q6_AUCTIONS {
                state.latest.pop_front();
            }
            state.latest.push_back(price);
            let sum: i64 = state.latest.iter().sum();
            out.collect((seller, sum / state.latest.len() as i64));
        }
        Ok(())
    }
}

/// Counts the records of a window.
#[derive(Clone)]
struct CountBids;

impl AggregateFunction<Bid> for CountBids {
    type Acc = u64;
    type Out = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, _bid: Bid, count: &mut u64) {
        *count += 1;
    }
    fn get_result(&self, count: &u64) -> u64 {
        *count
    }
    fn merge(&self, count: &mut u64, other: u64) {
        *count += other;
    }
}

/// Labels a window's count with its key and the window.
#[derive(Clone)]
struct WithWindow;

impl ProcessWindowFunction<u64, (i64, u64, i64, i64), i64, TimeWindow> for WithWindow {
    fn process(
        &mut self,
        key: &i64,
        ctx: &mut WindowContext<'_, i64, TimeWindow>,
        counts: Vec<u64>,
        out: &mut Collector<'_, (i64, u64, i64, i64)>,
    ) -> Result<(), BoxError> {
        let window = ctx.window();
        for count in counts {
            out.collect((*key, count, window.start(), window.end()));
        }
        Ok(())
    }
}

/// q5, hot items: `(auction, bids, window end)` of the auctions with the most bids in each
/// 10 s window sliding by 2 s (all of them on a tie).
pub fn q5(events: &DataStream<Event>) -> DataStream<(i64, u64, i64)> {
    bids(events)
        .key_by(|bid: &Bid| bid.auction)
        .window(SlidingEventTimeWindows::of(WINDOW, SLIDE))
        .aggregate_and_process(CountBids, WithWindow)
        .key_by(|(_, _, _, end): &(i64, u64, i64, i64)| *end)
        .process(HottestPerWindow)
}

/// Collects the counts of one window (the key is its end) and, once the watermark passed it,
/// emits those with the highest count.
#[derive(Clone)]
struct HottestPerWindow;

impl KeyedProcessFunction<i64, (i64, u64, i64, i64), (i64, u64, i64)> for HottestPerWindow {
    type State = Vec<(i64, u64)>;

    fn process_element(
        &mut self,
        (auction, count, _, end): (i64, u64, i64, i64),
        ctx: &mut KeyedContext<'_, i64, Vec<(i64, u64)>>,
        _out: &mut Collector<'_, (i64, u64, i64)>,
    ) -> Result<(), BoxError> {
        if ctx.state().is_empty() {
            // The window's results carry its last timestamp; all of them are in when the
            // watermark reaches it.
            ctx.timer_service().register_event_time_timer(end - 1);
        }
        ctx.state().push((auction, count));
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: i64,
        ctx: &mut KeyedContext<'_, i64, Vec<(i64, u64)>>,
        out: &mut Collector<'_, (i64, u64, i64)>,
    ) -> Result<(), BoxError> {
        let end = *ctx.get_current_key();
        let counts = std::mem::take(ctx.state());
        let most = counts.iter().map(|(_, count)| *count).max().unwrap_or(0);
        for (auction, count) in counts {
            if count == most {
                out.collect((auction, count, end));
            }
        }
        ctx.clear_state();
        Ok(())
    }
}

/// q7, highest bid: every bid with the highest price of its 10 s tumbling window, as
/// `(auction, price, bidder, date_time, extra)`.
pub fn q7(events: &DataStream<Event>) -> DataStream<BidRow> {
    bids(events)
        .window_all(TumblingEventTimeWindows::of(WINDOW))
        .aggregate_and_process(HighestBids, EmitHighest)
}

/// Keeps, while a window fills, only its bids with the highest price so far (a window holds
/// a handful of bids, not all of them).
#[derive(Clone)]
struct HighestBids;

impl AggregateFunction<Bid> for HighestBids {
    type Acc = Vec<Bid>;
    type Out = Vec<Bid>;
    fn create_accumulator(&self) -> Vec<Bid> {
        Vec::new()
    }
    fn add(&self, bid: Bid, highest: &mut Vec<Bid>) {
        match highest.first().map(|first| first.price) {
            Some(price) if bid.price < price => {}
            Some(price) if bid.price == price => highest.push(bid),
            _ => *highest = vec![bid],
        }
    }
    fn get_result(&self, highest: &Vec<Bid>) -> Vec<Bid> {
        highest.clone()
    }
    fn merge(&self, highest: &mut Vec<Bid>, other: Vec<Bid>) {
        for bid in other {
            self.add(bid, highest);
        }
    }
}

/// Emits a window's highest bids.
#[derive(Clone)]
struct EmitHighest;

impl ProcessWindowFunction<Vec<Bid>, BidRow, (), TimeWindow> for EmitHighest {
    fn process(
        &mut self,
        _key: &(),
        _ctx: &mut WindowContext<'_, (), TimeWindow>,
        highest: Vec<Vec<Bid>>,
        out: &mut Collector<'_, BidRow>,
    ) -> Result<(), BoxError> {
        for bid in highest.into_iter().flatten() {
            out.collect((bid.auction, bid.price, bid.bidder, bid.date_time, bid.extra));
        }
        Ok(())
    }
}

/// q8, monitor new users: `(person id, name, window start)` for the people who registered
/// and put up an auction in the same 10 s tumbling window.
pub fn q8(events: &DataStream<Event>) -> DataStream<(i64, String, i64)> {
    let window = WINDOW.as_millis() as i64;
    people(events)
        .co_group(&auctions(events))
        .where_(|person: &Person| person.id)
        .equal_to(|auction: &Auction| auction.seller)
        .window(TumblingEventTimeWindows::of(WINDOW))
        .apply(
            move |people: Vec<Person>,
                  auctions: Vec<Auction>,
                  out: &mut Collector<(i64, String, i64)>| {
                if auctions.is_empty() {
                    return;
                }
                // One row per person and window, as Flink's GROUP BY id, name, window.
                let mut seen = std::collections::BTreeSet::new();
                for person in people {
                    if seen.insert((person.id, person.name.clone())) {
                        let start = person.date_time - person.date_time.rem_euclid(window);
                        out.collect((person.id, person.name, start));
                    }
                }
            },
        )
}

/// q11, user sessions: `(bidder, bids, session start, session end)` per bidder and session
/// (bids at most 10 s apart, as Flink merges sessions that touch).
pub fn q11(events: &DataStream<Event>) -> DataStream<(i64, u64, i64, i64)> {
    bids(events)
        .key_by(|bid: &Bid| bid.bidder)
        .window(EventTimeSessionWindows::with_gap(SESSION_GAP))
        .aggregate_and_process(CountBids, WithWindow)
}

/// The queries by name, each returning how many results it produced into a counting sink.
pub const QUERIES: [&str; 10] = ["q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q11"];

/// Where a query's results go.
#[derive(Clone, Copy)]
pub enum Results<'a> {
    /// Counted and dropped (for benchmarks).
    Discard(&'a DiscardingSink),
    /// Printed to standard output, one line each (for comparing with Flink).
    Print,
    /// Measured for their latency (with a rate-limited source).
    Latency(&'a latency::LatencySink),
}

/// Adds query `name` on `events` with its results sent to `results`; `None` for an unknown
/// name.
pub fn add_query(
    name: &str,
    events: &DataStream<Event>,
    results: Results<'_>,
) -> Option<DataStreamSink> {
    fn finish<T: StreamData + Printable>(
        stream: DataStream<T>,
        results: Results<'_>,
    ) -> DataStreamSink {
        match results {
            Results::Discard(sink) => stream.sink_to(sink.clone()),
            Results::Print => stream.print(),
            Results::Latency(sink) => stream.sink_to(sink.clone()),
        }
    }
    Some(match name {
        "q0" => finish(q0(events), results),
        "q1" => finish(q1(events), results),
        "q2" => finish(q2(events), results),
        "q3" => finish(q3(events), results),
        "q4" => finish(q4(events), results),
        "q5" => finish(q5(events), results),
        "q6" => finish(q6(events), results),
        "q7" => finish(q7(events), results),
        "q8" => finish(q8(events), results),
        "q11" => finish(q11(events), results),
        _ => return None,
    })
}
