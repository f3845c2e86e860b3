//! The insurance center as a sandbox any region can use (issue 15): a region with no parameter set
//! of its own is refused unless a default region is declared; then that region's schemes (example
//! numbers, and the set says so) serve it.

use wugan_policy::{Date, PsnGroup};

#[test]
fn a_region_without_its_own_schemes_is_served_by_the_declared_default() {
    let date = Date::parse("2026-11-30").expect("a date");
    let plain = wugan_insurance::default_policy();
    assert!(plain.select("990000", "310", PsnGroup::InService, date).is_err(), "no default: refused");
    let own = plain.select("440300", "310", PsnGroup::InService, date).expect("Shenzhen has its own").effective_from;

    let sandbox = plain.clone().with_default_region("440300").expect("440300 has schemes");
    let served = sandbox.select("990000", "310", PsnGroup::InService, date).expect("served by the default");
    assert_eq!((served.admdvs.as_str(), served.effective_from), ("440300", own));
    assert!(sandbox.notes.iter().any(|n| n.contains("example numbers")), "{:?}", sandbox.notes);
    assert!(plain.with_default_region("990000").is_err(), "a default must have schemes");
}
