//! Plain English for the things a link worker reads out to a client: money, dates, how long
//! ago a provider checked a course, when a run meets. One place, so every page says it alike.

use chrono::{Datelike, NaiveDate};
use prospectus_model::{Run, Start, Weekday};

/// "Free", "£12" or "£12.50".
pub fn money(pence: u32) -> String {
    if pence == 0 {
        return "Free".into();
    }
    let (pounds, rest) = (pence / 100, pence % 100);
    let pounds = thousands(pounds);
    if rest == 0 {
        format!("£{pounds}")
    } else {
        format!("£{pounds}.{rest:02}")
    }
}

fn thousands(n: u32) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "12 January 2027".
pub fn date(d: NaiveDate) -> String {
    format!("{} {}", d.day(), d.format("%B %Y"))
}

/// "Starts 12 January 2027" or "Join any week".
pub fn start(s: Start) -> String {
    match s {
        Start::On(d) => format!("Starts {}", date(d)),
        Start::Rolling => "Join any week".into(),
    }
}

/// "today", "yesterday", "5 days ago", "3 weeks ago", "4 months ago", "over a year ago".
pub fn ago(then: NaiveDate, today: NaiveDate) -> String {
    let days = (today - then).num_days();
    match days {
        i64::MIN..=0 => "today".into(),
        1 => "yesterday".into(),
        2..=13 => format!("{days} days ago"),
        14..=59 => format!("{} weeks ago", days / 7),
        60..=364 => format!("{} months ago", days / 30),
        _ => "over a year ago".into(),
    }
}

/// "Mondays and Wednesdays".
pub fn days(days: &[Weekday]) -> String {
    let names: Vec<String> = days.iter().map(|d| format!("{}s", d.label())).collect();
    list(&names)
}

/// "a", "a and b", "a, b and c".
pub fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// "Mondays, 10:00 to 12:00".
pub fn meets(run: &Run) -> String {
    let when = if run.days.is_empty() {
        "Days to be arranged".to_string()
    } else {
        days(&run.days)
    };
    format!(
        "{when}, {} to {}",
        run.start_time.format("%H:%M"),
        run.end_time.format("%H:%M")
    )
}

/// "10 weeks", or nothing for an open-ended run.
pub fn weeks(run: &Run) -> Option<String> {
    run.weeks.map(|w| match w {
        1 => "1 week".to_string(),
        w => format!("{w} weeks"),
    })
}

/// Places and waiting time, when the provider says.
pub fn places(run: &Run) -> Option<String> {
    match (run.places_left, run.waiting_weeks) {
        (Some(0), Some(w)) => Some(format!("Full: waiting list about {w} weeks")),
        (Some(0), None) => Some("Full: ask about the waiting list".into()),
        (Some(1), _) => Some("1 place left".into()),
        (Some(n), _) => Some(format!("{n} places left")),
        (None, Some(w)) if w > 0 => Some(format!("Waiting list about {w} weeks")),
        _ => None,
    }
}

/// "1.2 miles" from kilometres.
pub fn miles(km: f64) -> String {
    let m = km / 1.609_344;
    if m < 0.1 {
        "less than 0.1 miles".into()
    } else {
        format!("{m:.1} miles")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_people_say_it() {
        assert_eq!(money(0), "Free");
        assert_eq!(money(1200), "£12");
        assert_eq!(money(1250), "£12.50");
        assert_eq!(money(123_456_700), "£1,234,567");
    }

    #[test]
    fn ago_rounds_down_to_the_unit_people_use() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let back = |d: i64| today - chrono::Duration::days(d);
        assert_eq!(ago(back(0), today), "today");
        assert_eq!(ago(back(1), today), "yesterday");
        assert_eq!(ago(back(6), today), "6 days ago");
        assert_eq!(ago(back(21), today), "3 weeks ago");
        assert_eq!(ago(back(100), today), "3 months ago");
        assert_eq!(ago(back(400), today), "over a year ago");
    }

    #[test]
    fn lists_join_with_and() {
        let s = |v: &[&str]| list(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&[]), "");
        assert_eq!(s(&["a"]), "a");
        assert_eq!(s(&["a", "b"]), "a and b");
        assert_eq!(s(&["a", "b", "c"]), "a, b and c");
        assert_eq!(
            days(&[Weekday::Mon, Weekday::Wed]),
            "Mondays and Wednesdays"
        );
    }
}
