//! Calendar dates of the log's timestamps (milliseconds since the Unix
//! epoch, UTC) without a date crate: the archive's `dt=`/`hour=` folders and
//! the ISO 8601 times the CLI prints and the corpus example writes.

/// Year, month (1-12) and day (1-31) of `days` since 1970-01-01, in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both fit in u32 by construction: 1..=31 and 1..=12.
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Year, month, day and hour (UTC) of `ms` since the epoch.
pub fn date_hour(ms: u64) -> (i64, u32, u32, u32) {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    (y, m, d, (secs % 86_400 / 3600) as u32)
}

/// `2025-11-24T16:00:11.223Z` for `ms` since the epoch.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d, h) = date_hour(ms);
    format!(
        "{y:04}-{m:02}-{d:02}T{h:02}:{:02}:{:02}.{:03}Z",
        secs % 3600 / 60,
        secs % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_of_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_764_000_011_223), "2025-11-24T16:00:11.223Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(iso8601(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn civil_dates_around_leap_days_and_before_the_epoch() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(date_hour(1_764_000_011_223), (2025, 11, 24, 16));
    }
}
