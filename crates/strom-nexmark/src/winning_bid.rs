//! Winning bids, the inner query that q4 and q6 share: an auction's highest bid among those
//! made while it was open (Flink's Nexmark `MAX(price) ... WHERE dateTime BETWEEN auction's
//! dateTime AND expires GROUP BY auction`). Auctions and bids travel apart, so a bid may
//! overtake its auction; an auction closes when the watermark passes its expiry.
//!
//! State stays bounded on an unbounded stream: a closed auction leaves nothing behind, and a
//! bid whose auction has not come is dropped once the watermark passes the bid's time (an
//! auction that opened before the bid and comes after that would be late).

use serde::{Deserialize, Serialize};
use strom::connectors::nexmark::{Auction, Bid, Event};
use strom::prelude::*;

use crate::{auctions, bids};

/// A change to an auction's winning bid, with the column the query groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinningBidChange {
    /// The auction's category (q4) or seller (q6).
    pub group: i64,
    /// The auction.
    pub auction: i64,
    /// The winning price this change replaces; `None` for the auction's first.
    pub previous: Option<i64>,
    /// The winning price.
    pub price: i64,
}

/// Which changes an auction reports, and what it is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Every rise of the winning bid while bids come in, grouped by category (an updating
    /// result, as q4's SQL).
    RisesByCategory,
    /// The final winning bid once the auction closed (timestamped with its expiry), grouped by
    /// seller.
    ClosesBySeller,
}

/// The winning-bid changes of the events' auctions.
pub fn winning_bids(events: &DataStream<Event>, report: Report) -> DataStream<WinningBidChange> {
    auctions(events)
        .connect(&bids(events))
        .key_by(|auction: &Auction| auction.id, |bid: &Bid| bid.auction)
        .process(WinningBid { report })
}

/// Keeps an auction's highest bid made while it was open and reports it as `report` says.
#[derive(Clone)]
struct WinningBid {
    report: Report,
}

/// An auction as the winning bid needs it, its highest bid so far, and bids that came before
/// it.
#[derive(Default, Serialize, Deserialize)]
struct OpenAuction {
    /// Group, opening and closing time.
    auction: Option<(i64, i64, i64)>,
    highest: Option<i64>,
    /// Price and time of bids seen before the auction.
    early: Vec<(i64, i64)>,
}

/// What a bid did to its auction's winning price.
enum BidOutcome {
    /// The auction is not known yet: the bid waits for it.
    Early,
    /// The bid is now the highest; the previous highest, if any.
    Raised(Option<i64>),
    /// Too low, or made while the auction was not open.
    Ignored,
}

impl OpenAuction {
    /// Counts a bid of `price` made at `time`.
    fn bid(&mut self, price: i64, time: i64) -> BidOutcome {
        let Some((_, opened, expires)) = self.auction else {
            self.early.push((price, time));
            return BidOutcome::Early;
        };
        let open = (opened..=expires).contains(&time);
        if open && self.highest.is_none_or(|highest| price > highest) {
            return BidOutcome::Raised(self.highest.replace(price));
        }
        BidOutcome::Ignored
    }
}

impl WinningBid {
    fn change(&self, state: &OpenAuction, auction: i64, previous: Option<i64>) -> WinningBidChange {
        WinningBidChange {
            group: state.auction.map_or(0, |(group, _, _)| group),
            auction,
            previous,
            price: state.highest.unwrap_or(0),
        }
    }
}

impl KeyedCoProcessFunction<i64, Auction, Bid, WinningBidChange> for WinningBid {
    type State = OpenAuction;

    fn process_element1(
        &mut self,
        auction: Auction,
        ctx: &mut KeyedContext<'_, i64, OpenAuction>,
        out: &mut Collector<'_, WinningBidChange>,
    ) -> Result<(), BoxError> {
        let group = match self.report {
            Report::RisesByCategory => auction.category,
            Report::ClosesBySeller => auction.seller,
        };
        let state = ctx.state();
        state.auction = Some((group, auction.date_time, auction.expires));
        let mut raised = false;
        for (price, time) in std::mem::take(&mut state.early) {
            raised |= matches!(state.bid(price, time), BidOutcome::Raised(_));
        }
        if raised && self.report == Report::RisesByCategory {
            out.collect(self.change(state, auction.id, None));
        }
        ctx.timer_service()
            .register_event_time_timer(auction.expires);
        Ok(())
    }

    fn process_element2(
        &mut self,
        bid: Bid,
        ctx: &mut KeyedContext<'_, i64, OpenAuction>,
        out: &mut Collector<'_, WinningBidChange>,
    ) -> Result<(), BoxError> {
        let state = ctx.state();
        match state.bid(bid.price, bid.date_time) {
            BidOutcome::Raised(previous) if self.report == Report::RisesByCategory => {
                out.collect(self.change(state, bid.auction, previous));
            }
            BidOutcome::Early => {
                // Dropped once the watermark passes it if its auction has not come by then.
                ctx.timer_service().register_event_time_timer(bid.date_time);
            }
            BidOutcome::Raised(_) | BidOutcome::Ignored => {}
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        ctx: &mut KeyedContext<'_, i64, OpenAuction>,
        out: &mut Collector<'_, WinningBidChange>,
    ) -> Result<(), BoxError> {
        let auction = *ctx.get_current_key();
        let state = ctx.state();
        match state.auction {
            // The auction closed: report it, and keep nothing of it.
            Some((_, _, expires)) if timestamp >= expires => {
                if self.report == Report::ClosesBySeller && state.highest.is_some() {
                    out.collect(self.change(state, auction, None));
                }
                ctx.clear_state();
            }
            // A bid's timer from before the auction came: nothing waits.
            Some(_) => {}
            // Bids still waiting for an auction that would now be late.
            None => {
                state.early.retain(|(_, time)| *time > timestamp);
                if state.early.is_empty() {
                    ctx.clear_state();
                }
            }
        }
        Ok(())
    }
}
