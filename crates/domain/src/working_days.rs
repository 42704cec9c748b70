//! Working days as an Italian public office counts them: Monday to Friday, except the
//! national public holidays and the patron saint's day of the office's city. The clock of a
//! response target ("answered within N working days") runs on these.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// A day of the year (month, day), such as a city's patron saint's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DayOfYear {
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
}

impl DayOfYear {
    /// That day in `year`, if it exists there.
    pub fn in_year(self, year: i32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(year, self.month, self.day)
    }

    /// From the way an Italian writes it, `29/06` (or `29/6`); `None` for a day no year
    /// has.
    pub fn parse(text: &str) -> Option<Self> {
        let (day, month) = text.trim().split_once('/')?;
        let d = DayOfYear {
            month: month.trim().parse().ok()?,
            day: day.trim().parse().ok()?,
        };
        // 2024 is a leap year: every day of some year exists in it.
        d.in_year(2024).map(|_| d)
    }
}

impl std::fmt::Display for DayOfYear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}/{:02}", self.day, self.month)
    }
}

impl serde::Serialize for DayOfYear {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DayOfYear {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DayOfYear::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a day (dd/mm)")))
    }
}

/// Easter Sunday of `year` in the Gregorian calendar (the anonymous Gregorian algorithm, also
/// known as Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
        .expect("the algorithm yields a date in March or April")
}

/// The national public holidays of `year` (law 260/1949 and its amendments), in date order:
/// New Year, Epiphany, Easter Monday, Liberation Day, Labour Day, Republic Day, Assumption,
/// All Saints, Immaculate Conception, Christmas, Saint Stephen; and, from 2026, Saint Francis
/// of Assisi (4 October), restored as a national holiday in 2025. Easter Sunday falls on a
/// Sunday and is not listed.
pub fn national_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed: &[(u32, u32)] = &[
        (1, 1),
        (1, 6),
        (4, 25),
        (5, 1),
        (6, 2),
        (8, 15),
        (11, 1),
        (12, 8),
        (12, 25),
        (12, 26),
    ];
    let mut days: Vec<NaiveDate> = fixed
        .iter()
        .filter_map(|&(m, d)| NaiveDate::from_ymd_opt(year, m, d))
        .collect();
    days.push(easter_sunday(year) + Duration::days(1));
    if year >= 2026 {
        days.extend(NaiveDate::from_ymd_opt(year, 10, 4));
    }
    days.sort();
    days
}

/// Whether `day` is a national public holiday: the days of [`national_holidays`], without
/// building the year's list (clocks ask this for every day they count).
pub fn is_national_holiday(day: NaiveDate) -> bool {
    let fixed = matches!(
        (day.month(), day.day()),
        (1, 1)
            | (1, 6)
            | (4, 25)
            | (5, 1)
            | (6, 2)
            | (8, 15)
            | (11, 1)
            | (12, 8)
            | (12, 25)
            | (12, 26)
    );
    fixed
        || (day.year() >= 2026 && (day.month(), day.day()) == (10, 4))
        // Easter Monday falls between 23 March and 26 April.
        || (matches!(day.month(), 3 | 4)
            && day.weekday() == Weekday::Mon
            && easter_sunday(day.year()) + Duration::days(1) == day)
}

/// Whether an office whose city's patron saint's day is `patron` works on `day`.
pub fn is_working_day(day: NaiveDate, patron: Option<DayOfYear>) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
        && !is_national_holiday(day)
        && patron.is_none_or(|p| (p.month, p.day) != (day.month(), day.day()))
}

/// The working day `n` working days after `start` (`start` itself not counted): the due date
/// of a target of `n` working days for something received on `start`.
pub fn add_working_days(start: NaiveDate, n: u32, patron: Option<DayOfYear>) -> NaiveDate {
    let mut day = start;
    let mut left = n;
    while left > 0 {
        day += Duration::days(1);
        if is_working_day(day, patron) {
            left -= 1;
        }
    }
    day
}

/// Working days after `start` up to and including `end` (0 when `end` is not after `start`):
/// how many working days a request received on `start` has been waiting on `end`.
pub fn working_days_between(start: NaiveDate, end: NaiveDate, patron: Option<DayOfYear>) -> u32 {
    let mut n = 0;
    let mut day = start;
    while day < end {
        day += Duration::days(1);
        if is_working_day(day, patron) {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn easter_monday_falls_on_the_days_of_the_calendar() {
        // Easter Monday as printed in Italian calendars.
        for (year, month, day) in [
            (2019, 4, 22),
            (2020, 4, 13),
            (2021, 4, 5),
            (2022, 4, 18),
            (2023, 4, 10),
            (2024, 4, 1),
            (2025, 4, 21),
            (2026, 4, 6),
            (2027, 3, 29),
            (2028, 4, 17),
            (2029, 4, 2),
            (2030, 4, 22),
        ] {
            let monday = d(year, month, day);
            assert_eq!(easter_sunday(year) + Duration::days(1), monday, "{year}");
            assert_eq!(monday.weekday(), Weekday::Mon);
            assert!(national_holidays(year).contains(&monday), "{year}");
            assert!(!is_working_day(monday, None), "{year}");
        }
    }

    #[test]
    fn the_national_holidays_of_a_year_are_all_there_and_only_those() {
        assert_eq!(
            national_holidays(2025),
            [
                d(2025, 1, 1),
                d(2025, 1, 6),
                d(2025, 4, 21),
                d(2025, 4, 25),
                d(2025, 5, 1),
                d(2025, 6, 2),
                d(2025, 8, 15),
                d(2025, 11, 1),
                d(2025, 12, 8),
                d(2025, 12, 25),
                d(2025, 12, 26),
            ]
        );
        assert_eq!(national_holidays(2027).len(), 12);
        assert!(national_holidays(2027).contains(&d(2027, 10, 4)));
        assert!(!national_holidays(2025).contains(&d(2025, 10, 4)));
    }

    #[test]
    fn the_holidays_of_several_years_are_those_of_the_italian_calendar() {
        // As printed in Italian calendars: fixed days, Easter Monday, and Saint Francis
        // (4 October) again from 2026.
        let table: [(i32, &[(u32, u32)]); 4] = [
            (
                2024,
                &[
                    (1, 1),
                    (1, 6),
                    (4, 1),
                    (4, 25),
                    (5, 1),
                    (6, 2),
                    (8, 15),
                    (11, 1),
                    (12, 8),
                    (12, 25),
                    (12, 26),
                ],
            ),
            (
                2026,
                &[
                    (1, 1),
                    (1, 6),
                    (4, 6),
                    (4, 25),
                    (5, 1),
                    (6, 2),
                    (8, 15),
                    (10, 4),
                    (11, 1),
                    (12, 8),
                    (12, 25),
                    (12, 26),
                ],
            ),
            (
                2027,
                &[
                    (1, 1),
                    (1, 6),
                    (3, 29),
                    (4, 25),
                    (5, 1),
                    (6, 2),
                    (8, 15),
                    (10, 4),
                    (11, 1),
                    (12, 8),
                    (12, 25),
                    (12, 26),
                ],
            ),
            (
                2028,
                &[
                    (1, 1),
                    (1, 6),
                    (4, 17),
                    (4, 25),
                    (5, 1),
                    (6, 2),
                    (8, 15),
                    (10, 4),
                    (11, 1),
                    (12, 8),
                    (12, 25),
                    (12, 26),
                ],
            ),
        ];
        for (year, days) in table {
            let expected: Vec<NaiveDate> = days.iter().map(|&(m, day)| d(year, m, day)).collect();
            assert_eq!(national_holidays(year), expected, "{year}");
        }
        // 2026 has 261 weekdays; seven national holidays fall on one (1 and 6 January, 6
        // April, 1 May, 2 June, 8 and 25 December): 254 working days, 253 in Rome, whose
        // patron saints' day (29 June) is a Monday.
        let rome = Some(DayOfYear { month: 6, day: 29 });
        assert_eq!(
            working_days_between(d(2025, 12, 31), d(2026, 12, 31), rome),
            253
        );
        assert_eq!(
            working_days_between(d(2025, 12, 31), d(2026, 12, 31), None),
            254
        );
    }

    #[test]
    fn the_quick_holiday_check_agrees_with_the_years_list() {
        for year in 2000..2100 {
            let listed = national_holidays(year);
            let mut day = d(year, 1, 1);
            while day.year() == year {
                assert_eq!(is_national_holiday(day), listed.contains(&day), "{day}");
                day += Duration::days(1);
            }
        }
    }

    #[test]
    fn due_dates_skip_weekends_holidays_and_the_patron_saint() {
        let rome = Some(DayOfYear { month: 6, day: 29 });
        let milan = Some(DayOfYear { month: 12, day: 7 });
        // Received on Friday 24 April 2026: Saturday, Sunday, then Monday 27 is the first.
        assert_eq!(add_working_days(d(2026, 4, 24), 1, None), d(2026, 4, 27));
        // Thursday 30 April 2026, 2 working days: Friday 1 May is Labour Day, so Monday 4 and
        // Tuesday 5.
        assert_eq!(add_working_days(d(2026, 4, 30), 2, None), d(2026, 5, 5));
        // Easter 2026: Thursday 2 April + 2 → Friday 3, (Easter Monday 6 skipped) Tuesday 7.
        assert_eq!(add_working_days(d(2026, 4, 2), 2, None), d(2026, 4, 7));
        // Rome's patron saints, Monday 29 June 2026: a working day in Milan, not in Rome.
        assert!(is_working_day(d(2026, 6, 29), milan));
        assert!(!is_working_day(d(2026, 6, 29), rome));
        assert_eq!(add_working_days(d(2026, 6, 26), 1, rome), d(2026, 6, 30));
        assert_eq!(add_working_days(d(2026, 6, 26), 1, milan), d(2026, 6, 29));
        // Christmas week 2026 from Thursday 24: Friday 25 and Saturday 26 are holidays; 28,
        // 29, 30, 31 December; 1 January a holiday, 2 and 3 a weekend: Monday 4 is the fifth.
        assert_eq!(add_working_days(d(2026, 12, 24), 5, None), d(2027, 1, 4));
        assert_eq!(add_working_days(d(2026, 12, 24), 0, None), d(2026, 12, 24));
    }

    #[test]
    fn days_of_the_year_are_written_and_read_as_italians_do() {
        let rome = DayOfYear { month: 6, day: 29 };
        assert_eq!(rome.to_string(), "29/06");
        assert_eq!(DayOfYear::parse("29/6"), Some(rome));
        assert_eq!(DayOfYear::parse(" 29 / 06 "), Some(rome));
        assert_eq!(
            DayOfYear::parse("29/02"),
            Some(DayOfYear { month: 2, day: 29 })
        );
        for bad in ["31/06", "0/1", "1/13", "06-29", "", "29"] {
            assert_eq!(DayOfYear::parse(bad), None, "{bad}");
        }
        assert_eq!(serde_json::to_string(&rome).unwrap(), "\"29/06\"");
        assert_eq!(
            serde_json::from_str::<DayOfYear>("\"29/06\"").unwrap(),
            rome
        );
        assert!(serde_json::from_str::<DayOfYear>("\"30/02\"").is_err());
    }

    #[test]
    fn waiting_days_count_the_same_days_as_due_dates() {
        let naples = Some(DayOfYear { month: 9, day: 19 });
        let start = d(2026, 1, 2);
        for n in 0..300 {
            let due = add_working_days(start, n, naples);
            assert_eq!(working_days_between(start, due, naples), n);
        }
        assert_eq!(working_days_between(d(2026, 5, 5), d(2026, 5, 1), None), 0);
    }
}
