//! Durations as scenarios and the command line write them (`5s`, `250ms`, think times
//! `10ms..50ms`), parsed with humantime.

use std::time::Duration;

/// Parses `5s`, `250ms`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("{text:?} is not a duration like 5s or 250ms: {e}"))
}

/// Parses think time: `100ms` or `50ms..200ms`, as (min, max).
pub fn parse_think_time(text: &str) -> Result<(Duration, Duration), String> {
    let (low, high) = text.split_once("..").unwrap_or((text, text));
    let (low, high) = (parse_duration(low)?, parse_duration(high)?);
    if low > high {
        return Err(format!("think_time: {text:?} has its range backwards"));
    }
    Ok((low, high))
}
