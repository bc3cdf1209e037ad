//! [`Comparison`]: the `">= 99%"`, `"< 250ms"`, `">= 1"` strings of scenario expectations.
//! A malformed comparison is a validation error, never a silent pass.

use std::fmt;
use std::str::FromStr;

/// The operator of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// What the number of a comparison measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Unit {
    /// A plain number.
    Count,
    /// A share, written `99%`, stored as 0.99.
    Ratio,
    /// A duration, written `250ms`, `2s` or `800us`, stored in milliseconds.
    Millis,
    /// A rate, written `100/s`.
    PerSecond,
}

/// A parsed comparison such as `>= 99%`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// The operator.
    pub op: Op,
    /// The threshold, in the unit's base (ratio, milliseconds, count, per second).
    pub value: f64,
    /// What the threshold measures.
    pub unit: Unit,
}

impl Comparison {
    /// Whether `measured` satisfies the comparison.
    pub fn holds(&self, measured: f64) -> bool {
        match self.op {
            Op::Lt => measured < self.value,
            Op::Le => measured <= self.value,
            Op::Gt => measured > self.value,
            Op::Ge => measured >= self.value,
            Op::Eq => (measured - self.value).abs() < 1e-9,
            Op::Ne => (measured - self.value).abs() >= 1e-9,
        }
    }

    /// Parses and insists on one of the `allowed` units, naming the field on error.
    pub fn parse_as(text: &str, allowed: &[Unit], what: &str) -> Result<Self, String> {
        let comparison: Self = text.parse().map_err(|e| format!("{what}: {e}"))?;
        if !allowed.contains(&comparison.unit) {
            return Err(format!("{what}: {text:?} has the wrong unit; expected {}", describe(allowed)));
        }
        Ok(comparison)
    }

    /// The value written back with its unit, for reports.
    pub fn format_value(&self, value: f64) -> String {
        match self.unit {
            Unit::Count => format!("{value}"),
            Unit::Ratio => format!("{:.2}%", value * 100.0),
            Unit::Millis => format!("{value:.3}ms"),
            Unit::PerSecond => format!("{value:.1}/s"),
        }
    }
}

fn describe(units: &[Unit]) -> String {
    units
        .iter()
        .map(|u| match u {
            Unit::Count => "a number like \">= 1\"",
            Unit::Ratio => "a share like \">= 99%\"",
            Unit::Millis => "a duration like \"< 250ms\"",
            Unit::PerSecond => "a rate like \">= 100/s\"",
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

impl FromStr for Comparison {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let (op, rest) = [("<=", Op::Le), (">=", Op::Ge), ("==", Op::Eq), ("!=", Op::Ne), ("<", Op::Lt), (">", Op::Gt)]
            .iter()
            .find_map(|(symbol, op)| trimmed.strip_prefix(symbol).map(|rest| (*op, rest.trim())))
            .ok_or_else(|| format!("{text:?} must start with <, <=, >, >=, == or !="))?;
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(split);
        let number: f64 = number.parse().map_err(|_| format!("{text:?} has no number after the operator"))?;
        let (value, unit) = match suffix.trim() {
            "" => (number, Unit::Count),
            "%" => (number / 100.0, Unit::Ratio),
            "ms" => (number, Unit::Millis),
            "s" => (number * 1000.0, Unit::Millis),
            "us" | "µs" => (number / 1000.0, Unit::Millis),
            "/s" => (number, Unit::PerSecond),
            other => return Err(format!("{text:?} has an unknown unit {other:?} (use %, ms, s, us or /s)")),
        };
        if !value.is_finite() {
            return Err(format!("{text:?} is not a finite number"));
        }
        Ok(Self { op, value, unit })
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        };
        write!(f, "{op} {}", self.format_value(self.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(">= 99%".parse::<Comparison>().unwrap(), Comparison { op: Op::Ge, value: 0.99, unit: Unit::Ratio });
        assert_eq!("< 250ms".parse::<Comparison>().unwrap().value, 250.0);
        assert_eq!("<2s".parse::<Comparison>().unwrap().value, 2000.0);
        assert_eq!("< 800us".parse::<Comparison>().unwrap().value, 0.8);
        assert_eq!(">= 1".parse::<Comparison>().unwrap().unit, Unit::Count);
        assert_eq!(">= 100/s".parse::<Comparison>().unwrap().unit, Unit::PerSecond);
    }

    #[test]
    fn malformed_comparisons_are_errors() {
        for bad in ["99%", ">= ", ">= lots", "=> 5", ">= 5 parsecs", ""] {
            assert!(bad.parse::<Comparison>().is_err(), "{bad:?} parsed");
        }
        assert!(Comparison::parse_as("< 250ms", &[Unit::Ratio], "status 200").is_err());
    }

    #[test]
    fn holds_follows_the_operator() {
        let c: Comparison = ">= 99%".parse().unwrap();
        assert!(c.holds(0.99) && c.holds(1.0) && !c.holds(0.989));
        let c: Comparison = "< 250ms".parse().unwrap();
        assert!(c.holds(249.9) && !c.holds(250.0));
    }
}
