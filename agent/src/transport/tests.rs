//! The reader's pacing: when it polls, when it raises the idle flag, and how
//! it recovers from a wake-up the edge-triggered ring fd swallowed.
use super::Pace;

const IDLE: Pace = Pace { active: false, empty: 0 };

#[test]
fn empty_polls_raise_the_flag_after_idle_after_and_records_reset_the_count() {
    let mut p = Pace::ACTIVE;
    assert!(!p.polled(0, 3));
    assert!(!p.polled(0, 3));
    assert!(!p.polled(5, 3), "records reset the count");
    assert_eq!(p.empty, 0);
    assert!(!p.polled(0, 3));
    assert!(!p.polled(0, 3));
    assert!(p.polled(0, 3));
}

#[test]
fn the_reader_sleeps_only_if_the_drain_after_the_flag_was_empty() {
    let mut p = Pace { active: true, empty: 3 };
    p.raised(0);
    assert_eq!(p, IDLE);
    // A record drained after the flag went up may carry a wake-up that the
    // drain swallowed (its probe lowered the flag): keep polling.
    let mut p = Pace { active: true, empty: 3 };
    p.raised(1);
    assert_eq!(p, Pace::ACTIVE);
}

#[test]
fn a_tick_that_finds_records_or_a_lowered_flag_while_idle_recovers_the_wake_up() {
    let mut p = IDLE;
    assert!(!p.ticked(0, false), "idle, nothing pending, flag up: stay asleep");
    assert_eq!(p, IDLE);
    assert!(p.ticked(2, false), "records while idle: their wake-up was lost");
    assert_eq!(p, Pace::ACTIVE);
    let mut p = IDLE;
    assert!(p.ticked(0, true), "a probe lowered the flag, so its wake-up was lost");
    assert_eq!(p, Pace::ACTIVE);
    let mut p = Pace { active: true, empty: 1 };
    assert!(!p.ticked(4, true), "an active reader polls anyway; a lowered flag is normal then");
    assert_eq!(p, Pace { active: true, empty: 1 });
}
