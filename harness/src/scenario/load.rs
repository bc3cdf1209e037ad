//! A phase's `load:` block and the [`LoadModel`] it resolves to, with its wall-time limit.

use std::time::Duration;

use serde::Deserialize;

use crate::duration::{parse_duration, parse_think_time};
use crate::plan::LoadModel;

/// Closed model (`users` with `duration`, `iterations` or a `ramp`) or open model (`rate`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Concurrent users (closed model), or the pool serving an open-model `rate`.
    pub users: Option<usize>,
    /// How long to run, e.g. `5s`.
    pub duration: Option<String>,
    /// Requests per user (each user sends its request list this many times).
    pub iterations: Option<usize>,
    /// Open model: requests per second, e.g. `200/s`.
    pub rate: Option<String>,
    /// A goose test plan, e.g. `10,5s;10,20s;0,2s` (users, time to reach them; ...).
    pub ramp: Option<String>,
    /// Pause between a user's requests: `100ms` or a seeded random range `50ms..200ms`.
    pub think_time: Option<String>,
    /// Hard limit on the phase's wall time (default: its duration + 60 s, or 10 min for
    /// iterations); a phase that runs over ends the run as invalid.
    pub max_duration: Option<String>,
}

/// Checks a load block and resolves it to its model.
pub fn resolve_load(load: &Load) -> Result<LoadModel, String> {
    if let Some(think) = &load.think_time {
        parse_think_time(think)?;
        if load.rate.is_some() {
            return Err(
                "load: think_time applies to closed-model phases; an open-model rate sets its own schedule".into()
            );
        }
    }
    let duration =
        load.duration.as_deref().map(parse_duration).transpose().map_err(|e| format!("load.duration: {e}"))?;
    match (load.rate.as_deref(), &load.ramp, load.iterations, duration) {
        (Some(rate), None, None, Some(duration)) => {
            let per_second: usize = rate
                .trim()
                .strip_suffix("/s")
                .and_then(|n| n.trim().parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("load.rate: {rate:?} must look like 200/s"))?;
            let users = load.users.unwrap_or_else(|| (per_second / 5).clamp(2, 1000));
            Ok(LoadModel::Rate { per_second, duration, users })
        }
        (Some(_), _, _, _) => Err("load: an open-model rate needs a duration and no iterations or ramp".into()),
        (None, Some(plan), None, None) if load.users.is_none() => {
            if !plan.trim_end().trim_end_matches(|c: char| c.is_ascii_alphanumeric()).trim_end().ends_with(";0,") {
                return Err(format!(
                    "load.ramp: {plan:?} must end at 0 users (e.g. ...;0,1s) so the phase stops by itself"
                ));
            }
            let duration = plan
                .split(';')
                .map(|step| {
                    step.split_once(',')
                        .map(|(_, t)| parse_duration(t))
                        .unwrap_or_else(|| Err(format!("{step:?} is not users,time")))
                })
                .sum::<Result<Duration, String>>()
                .map_err(|e| format!("load.ramp: {e}"))?;
            Ok(LoadModel::Ramp { plan: plan.clone(), duration })
        }
        (None, Some(_), _, _) => {
            Err("load: a ramp gives users over time by itself; drop users, duration and iterations".into())
        }
        (None, None, Some(iterations), None) if iterations > 0 => {
            Ok(LoadModel::Iterations { users: load.users.unwrap_or(1).max(1), iterations })
        }
        (None, None, None, Some(duration)) => {
            Ok(LoadModel::Duration { users: load.users.unwrap_or(1).max(1), duration })
        }
        (None, None, Some(_), Some(_)) => Err("load: give duration or iterations, not both".into()),
        _ => Err("load: expected users with duration or iterations, a ramp, or rate with duration".into()),
    }
}

/// The wall-time limit of a phase: `max_duration`, or the planned duration + 60 s, or 10 min.
pub fn phase_limit(load: &Load, model: &LoadModel) -> Result<Duration, String> {
    if let Some(limit) = &load.max_duration {
        return parse_duration(limit).map_err(|e| format!("load.max_duration: {e}"));
    }
    Ok(match model {
        LoadModel::Duration { duration, .. } | LoadModel::Ramp { duration, .. } | LoadModel::Rate { duration, .. } => {
            *duration + Duration::from_secs(60)
        }
        LoadModel::Iterations { .. } => Duration::from_secs(600),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_resolve_to_models() {
        let load = |yaml: &str| resolve_load(&serde_yaml::from_str::<Load>(yaml).unwrap());
        assert_eq!(
            load("{users: 4, duration: 5s}").unwrap(),
            LoadModel::Duration { users: 4, duration: Duration::from_secs(5) }
        );
        assert_eq!(load("{users: 2, iterations: 20}").unwrap(), LoadModel::Iterations { users: 2, iterations: 20 });
        assert!(matches!(load("{rate: 200/s, duration: 2s}").unwrap(), LoadModel::Rate { per_second: 200, .. }));
        assert!(
            matches!(load("{ramp: \"5,1s;5,2s;0,1s\"}").unwrap(), LoadModel::Ramp { duration, .. } if duration == Duration::from_secs(4))
        );
        assert!(load("{ramp: \"5,1s;5,2s\"}").unwrap_err().contains("end at 0 users"));
        assert!(load("{users: 2}").is_err());
        assert!(load("{users: 2, duration: 5s, iterations: 3}").is_err());
        assert!(load("{rate: fast, duration: 2s}").is_err());
        assert!(load("{users: 1, duration: soon}").is_err());
    }

    #[test]
    fn a_load_splits_over_workers_without_losing_a_user_or_a_request_per_second() {
        let iterations = LoadModel::Iterations { users: 7, iterations: 3 };
        let users: Vec<usize> = (0..3)
            .map(|i| match iterations.share(i, 3) {
                Some(LoadModel::Iterations { users, iterations: 3 }) => users,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(users, [3, 2, 2]);
        let rate = LoadModel::Rate { per_second: 100, duration: Duration::from_secs(2), users: 10 };
        let rates: Vec<(usize, usize)> = (0..3)
            .map(|i| match rate.share(i, 3) {
                Some(LoadModel::Rate { per_second, users, .. }) => (per_second, users),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(rates, [(34, 4), (33, 3), (33, 3)]);
        assert_eq!(LoadModel::Duration { users: 2, duration: Duration::ZERO }.share(2, 3), None);
        assert_eq!(LoadModel::Ramp { plan: "1,1s;0,1s".into(), duration: Duration::ZERO }.share(0, 2), None);
    }
}
