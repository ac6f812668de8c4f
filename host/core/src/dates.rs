//! Dates and times by a calendar library (jiff), never by hand: CloudWatch's
//! timestamps (`2026-01-01T00:00:00.000+0000`, `…Z`, `…+00:00`) read into
//! Unix milliseconds, days written `YYYY-MM-DD`, and what people read. A date
//! that does not exist (`2026-02-31`, `2027-02-29`) is refused, never rolled
//! over into the next month.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::tz::Offset;

use crate::model::Millis;

/// Real UTC offsets run from -12:00 to +14:00; anything past ±14 hours is a
/// forged or broken timestamp, not a place on Earth.
const MAX_OFFSET_SECONDS: i32 = 14 * 3_600;

/// A timestamp or a day that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// A timestamp [`parse_timestamp`] could not read.
    #[error("{text:?} is not a timestamp like 2026-01-01T00:00:00.000+0000: {reason}")]
    Timestamp {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A day [`parse_day`] could not read.
    #[error("{text:?} is not a YYYY-MM-DD date: {reason}")]
    Day {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// `2026-01-01T00:00:00.000+0000`, `…Z`, `…+00:00` or with a space for the
/// `T` → Unix ms. The offset is required (a time without one names no
/// instant) and must be a real one.
pub fn parse_timestamp(text: &str) -> Result<Millis, DateError> {
    let fail = |reason: String| DateError::Timestamp {
        text: text.to_owned(),
        reason,
    };
    let trimmed = text.trim();
    let pieces = Pieces::parse(trimmed).map_err(|e| fail(e.to_string()))?;
    if pieces.time_zone_annotation().is_some() {
        return Err(fail("a time zone name is not expected".into()));
    }
    let offset = match pieces.offset() {
        Some(PiecesOffset::Zulu) => Offset::UTC,
        Some(PiecesOffset::Numeric(n)) => n.offset(),
        Some(_) | None => return Err(fail("no UTC offset (Z or +hhmm)".into())),
    };
    if offset.seconds().abs() > MAX_OFFSET_SECONDS {
        return Err(fail(format!("offset {offset} is beyond ±14:00")));
    }
    let time = pieces.time().ok_or_else(|| fail("no time of day".into()))?;
    let at = offset
        .to_timestamp(pieces.date().to_datetime(time))
        .map_err(|e| fail(e.to_string()))?;
    Ok(at.as_millisecond())
}

/// A calendar day written `YYYY-MM-DD` (a signature's expiry); one that does
/// not exist is refused.
pub fn parse_day(text: &str) -> Result<Date, DateError> {
    let fail = |reason: String| DateError::Day {
        text: text.to_owned(),
        reason,
    };
    // jiff also reads `20270228` and `+002027-02-28`; a person means this shape.
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(fail(
            "expected four digits, two and two (2027-02-28)".into(),
        ));
    }
    text.parse::<Date>().map_err(|e| fail(e.to_string()))
}

fn timestamp(ms: Millis) -> Timestamp {
    // Out of jiff's range (±9999 years) only for nonsense input: clamp rather
    // than fail a report over a broken record.
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The UTC day of `ms`, `YYYY-MM-DD` (ISO days compare correctly as strings).
pub fn day(ms: Millis) -> String {
    timestamp(ms).strftime("%Y-%m-%d").to_string()
}

/// `2026-01-01 00:00` (UTC), for people.
pub fn date_time(ms: Millis) -> String {
    timestamp(ms).strftime("%Y-%m-%d %H:%M").to_string()
}

/// `2026-01-01T00:00:00.000+0000`, CloudWatch's alarm timestamp format.
pub fn cloudwatch(ms: Millis) -> String {
    timestamp(ms)
        .strftime("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW_YEAR_2026: Millis = 1_767_225_600_000;

    #[test]
    fn cloudwatch_offsets_and_fractions_are_read() {
        for text in [
            "2026-01-01T00:00:00.000+0000",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.000+00:00",
            "2026-01-01 00:00:00Z",
            "2026-01-01T01:00:00+01:00",
            "2025-12-31T19:00:00.000-0500",
        ] {
            assert_eq!(parse_timestamp(text), Ok(NEW_YEAR_2026), "{text}");
        }
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_timestamp("2026-01-01T05:00:00.000-0500"),
            parse_timestamp("2026-01-01T10:00:00.000Z")
        );
        assert_eq!(
            parse_timestamp("2026-01-01T00:00:00.5Z"),
            Ok(NEW_YEAR_2026 + 500)
        );
    }

    #[test]
    fn impossible_dates_are_refused_not_rolled_over() {
        for text in [
            "2026-02-31T00:00:00Z",
            "2027-02-29T00:00:00Z",
            "2026-04-31T00:00:00.000+0000",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:01Z",
            "2026-01-01T-1:00:00Z",
            "2026-01-01T00:-5:00Z",
        ] {
            assert!(parse_timestamp(text).is_err(), "{text}");
        }
        for text in [
            "2026-02-31",
            "2027-02-30",
            "2027-02-29",
            "2026-00-10",
            "2026-1-10",
        ] {
            assert!(parse_day(text).is_err(), "{text}");
        }
    }

    #[test]
    fn leap_days_exist_only_in_leap_years() {
        assert!(parse_day("2028-02-29").is_ok());
        assert!(parse_day("2000-02-29").is_ok());
        assert!(parse_day("1900-02-29").is_err());
        assert_eq!(
            parse_timestamp("2028-02-29T12:00:00Z").map(day),
            Ok("2028-02-29".to_owned())
        );
    }

    #[test]
    fn offsets_must_be_real_and_present() {
        for text in [
            "2026-01-01T00:00:00+2500",
            "2026-01-01T00:00:00+15:00",
            "2026-01-01T00:00:00+00:99",
            "2026-01-01T00:00:00-1x:00",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00Z[Europe/Paris]",
            "yesterday",
        ] {
            assert!(parse_timestamp(text).is_err(), "{text}");
        }
        assert!(parse_timestamp("2026-01-01T00:00:00+14:00").is_ok());
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, NEW_YEAR_2026, 1_767_227_405_123, 951_782_400_000] {
            assert_eq!(
                parse_timestamp(&cloudwatch(ms)),
                Ok(ms),
                "{}",
                cloudwatch(ms)
            );
        }
        assert_eq!(date_time(NEW_YEAR_2026 + 90_000), "2026-01-01 00:01");
        assert_eq!(day(NEW_YEAR_2026 - 1), "2025-12-31");
    }
}
