//! Fraud detection with a `KeyedProcessFunction`, after Flink's fraud-detection walkthrough:
//!
//! ```text
//! cargo run --release --example fraud_detection
//! ```
//!
//! A small transaction (under 1.00) followed on the same account by a large one (over 500.00)
//! within one minute of event time raises an alert. Per account the function keeps one
//! `ValueState` (the deadline of the last small transaction) and one event-time timer that
//! clears it when the minute has passed, so state does not grow with the number of accounts
//! seen.

use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strom::prelude::*;

#[path = "common/exit.rs"]
mod exit;

/// A card transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Transaction {
    account_id: u64,
    amount: f64,
    timestamp: Timestamp,
}

/// An alert on an account: the large transaction that followed a small one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Alert {
    account_id: u64,
    amount: f64,
    timestamp: Timestamp,
}

impl std::fmt::Display for Alert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Alert{{account={}, amount={:.2}, at={}}}",
            self.account_id, self.amount, self.timestamp
        )
    }
}
printable_via_display!(Alert);

const SMALL_AMOUNT: f64 = 1.00;
const LARGE_AMOUNT: f64 = 500.00;
const ONE_MINUTE: Timestamp = 60_000;

/// The deadline of the account's last small transaction, while it is open (Flink's walkthrough
/// keeps a flag and the timer's time; the deadline is both).
const DEADLINE: ValueStateDescriptor<Timestamp> = ValueStateDescriptor::new("deadline");

#[derive(Clone)]
struct FraudDetector;

impl KeyedProcessFunction<u64, Transaction, Alert> for FraudDetector {
    type State = ();

    fn process_element(
        &mut self,
        transaction: Transaction,
        ctx: &mut KeyedContext<'_, u64, ()>,
        out: &mut Collector<'_, Alert>,
    ) -> Result<(), BoxError> {
        let mut deadline_state = ctx.keyed_state().get_state(&DEADLINE)?;
        if let Some(&deadline) = deadline_state.value() {
            if transaction.amount > LARGE_AMOUNT && transaction.timestamp <= deadline {
                out.collect(Alert {
                    account_id: transaction.account_id,
                    amount: transaction.amount,
                    timestamp: transaction.timestamp,
                });
            }
            // Any transaction after a small one closes the pattern.
            deadline_state.clear();
            ctx.timer_service().delete_event_time_timer(deadline);
        }
        if transaction.amount < SMALL_AMOUNT {
            let deadline = transaction.timestamp + ONE_MINUTE;
            ctx.keyed_state().get_state(&DEADLINE)?.update(deadline)?;
            ctx.timer_service().register_event_time_timer(deadline);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, u64, ()>,
        _out: &mut Collector<'_, Alert>,
    ) -> Result<(), BoxError> {
        ctx.keyed_state().get_state(&DEADLINE)?.clear();
        Ok(())
    }
}

/// Ordinary transactions of five accounts over ten minutes, a little out of order, and a few
/// small-then-large pairs.
fn transactions() -> Vec<Transaction> {
    let mut transactions = Vec::new();
    for i in 0..200u64 {
        let account_id = 1 + i % 5;
        // Ordinary amounts between 10 and 300; three seconds apart, up to two seconds late.
        let amount = 10.0 + ((i * 7919) % 290) as f64;
        let timestamp = (i * 3_000 + 2_000 - (i * 1_301) % 2_000) as Timestamp;
        transactions.push(Transaction {
            account_id,
            amount,
            timestamp,
        });
    }
    let mut fraud = |account_id, amount, timestamp| {
        transactions.push(Transaction {
            account_id,
            amount,
            timestamp,
        })
    };
    // Account 13: 0.50, then 900.00 forty seconds later: an alert.
    fraud(13, 0.50, 100_000);
    fraud(13, 900.00, 140_000);
    // Account 14: 0.10, then 700.00 after more than a minute: no alert.
    fraud(14, 0.10, 200_000);
    fraud(14, 700.00, 262_000);
    // Account 12: 0.99, then 501.00 ten seconds later: an alert.
    fraud(12, 0.99, 400_000);
    fraud(12, 501.00, 410_000);
    // Account 3: 0.20, then an ordinary payment, then 800.00: the pattern was broken, no alert.
    fraud(3, 0.20, 299_000);
    fraud(3, 800.00, 315_000);
    transactions.sort_by_key(|t| t.timestamp / 10_000);
    transactions
}

fn run() -> Result<(), JobError> {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.from_collection(transactions())
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(5))
                .with_timestamp_assigner(|t: &Transaction, _| t.timestamp),
        )
        .key_by(|t| t.account_id)
        .process(FraudDetector)
        .name("fraud-detector")
        .print();
    env.execute("Fraud Detection").map(|_| ())
}

fn main() -> ExitCode {
    exit::exit_code(run())
}
