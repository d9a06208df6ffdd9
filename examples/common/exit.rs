//! How the examples end: success, or the job's error on standard error and exit status 1.

use std::process::ExitCode;

use strom::prelude::JobError;

/// The process's exit status for a job's result.
pub fn exit_code(result: Result<(), JobError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
