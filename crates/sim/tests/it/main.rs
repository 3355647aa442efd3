//! The simulation as tests: one long run over 200,000 steps with the default policy, runs
//! over random seeds with randomised policies (a property test), and the reproducibility
//! that makes a failure replayable from its printed seed.

use orderly_sim::{SimConfig, run};
use proptest::prelude::*;

#[test]
fn two_hundred_thousand_steps_keep_every_invariant() {
    // Arrange
    let config = SimConfig::new(20_261_123, 200_000);
    // Act
    let report = run(&config).unwrap_or_else(|failure| panic!("{failure}"));
    // Assert: the run went everywhere worth going.
    println!("{report:?}");
    assert_eq!(report.steps, 200_000);
    assert!(report.orders_finished > 1_000, "{report:?}");
    assert!(report.deadlines_fired > 1_000, "{report:?}");
    assert!(report.refunds > 500, "{report:?}");
    assert!(report.claims_settled > 500, "{report:?}");
    assert!(
        report.endings.iter().all(|count| *count > 100),
        "{report:?}"
    );
    assert!(report.rejected > 10_000, "{report:?}");
    assert!(report.partial_refunds > 100, "{report:?}");
    assert!(report.proposals_accepted > 100, "{report:?}");
    assert!(report.evidence > 100, "{report:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every seed, with the policy settings the seeds disagree on drawn at random, keeps
    /// the invariants and the agreement of `allowed_actions` with `decide`.
    #[test]
    fn any_seed_and_policy_keeps_every_invariant(seed in any::<u64>()) {
        let config = SimConfig::new(seed, 3_000).with_random_policy();
        if let Err(failure) = run(&config) {
            prop_assert!(false, "{}", failure);
        }
    }
}
