//! Date/time wire formats.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Parses an `xs:dateTime`; a value without an offset is taken as UTC.
pub fn parse_date_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// Formats a timestamp as EWS writes it (`2024-05-21T14:02:11Z`).
pub fn format_date_time(value: &DateTime<Utc>) -> String {
    value.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The calendar date of an EWS `Birthday`.
///
/// Exchange keeps a birthday as an instant: Outlook writes local midnight, converted to
/// UTC, other clients write 11:59 UTC. Rounding to the nearest UTC midnight gives the
/// date the user entered for every zone from UTC-11 to UTC+11, without knowing the zone.
/// An instant at the end of chrono's range (a hostile or broken server) keeps its own date
/// instead of overflowing.
pub fn birthday_date(value: &DateTime<Utc>) -> NaiveDate {
    value
        .checked_add_signed(Duration::hours(12))
        .unwrap_or(*value)
        .date_naive()
}

/// The instant written for a birthday: 11:59 UTC, which shows as the same date
/// in every time zone within ±12 hours.
pub fn birthday_instant(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(11, 59, 0).expect("valid time").and_utc()
}

/// serde for `Option<DateTime<Utc>>` in EWS text form.
pub mod opt_date_time {
    use super::*;

    /// Writes the timestamp (only called for `Some`, the field skips `None`).
    pub fn serialize<S: Serializer>(
        value: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_str(&format_date_time(v)),
            None => s.serialize_none(),
        }
    }

    /// Reads a timestamp; an empty element is `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        parse_date_time(&text)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid xs:dateTime {text:?}")))
    }
}

/// serde for a birthday kept as `Option<NaiveDate>` (see [`birthday_date`]).
pub mod opt_birthday {
    use super::*;

    /// Writes the date as 11:59 UTC of that day.
    pub fn serialize<S: Serializer>(value: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_str(&format_date_time(&birthday_instant(*v))),
            None => s.serialize_none(),
        }
    }

    /// Reads an instant (or a bare date) and keeps its calendar date.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        let text = String::deserialize(d)?;
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if let Some(instant) = parse_date_time(text) {
            return Ok(Some(birthday_date(&instant)));
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("invalid Birthday {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Holder {
        #[serde(with = "opt_birthday")]
        birthday: Option<NaiveDate>,
    }

    #[test]
    fn a_birthday_at_the_end_of_time_does_not_overflow() {
        assert_eq!(
            birthday_date(&DateTime::<Utc>::MAX_UTC),
            DateTime::<Utc>::MAX_UTC.date_naive()
        );
        // As a server may send it (no offset: read as UTC), through the wire format.
        let h: Holder = serde_json::from_str(r#"{"birthday": "+262142-12-31T23:59:59"}"#).unwrap();
        assert_eq!(h.birthday, Some(NaiveDate::MAX));
        let h: Holder = serde_json::from_str(r#"{"birthday": "9999-12-31T23:00:00Z"}"#).unwrap();
        assert_eq!(h.birthday, NaiveDate::from_ymd_opt(10_000, 1, 1));
    }
}
