//! Fee lines adjudicated per second per core: realistic claims of 5–10 lines (甲 consultations and
//! beds, 乙 drugs, 丙 items, a line above its price cap, an unlisted code) against the Shenzhen set,
//! across outpatient, inpatient and resident benefits. Run with
//! `cargo bench -p wugan-policy --bench engine -- --quick`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use wugan_domain::money::Fen;
use wugan_policy::{adjudicate, builtin, Acct, Claim, ClaimPerson, ClaimVisit, Date, FeeLine, Price, Qty, Ytd};

/// (code, unit price in fen, units): a ward's and a clinic's usual lines.
const LINES: &[(&str, i64, i64)] = &[
    ("001102000010000", 2_500, 1),          // 甲 consultation
    ("110900001000000", 8_000, 3),          // 甲 bed above its 60.00 cap
    ("250101001000000", 2_000, 1),          // 甲 blood count
    ("XJ01CAA040E001010101923", 1_250, 4),  // 甲 amoxicillin
    ("XC10AAA005A001010104389", 5_000, 2),  // 乙 atorvastatin
    ("XL04AXL150E001010100136", 80_000, 1), // 乙 lenalidomide, 20 %
    ("C14020107700200160001", 500, 6),      // 甲 infusion set above its cap
    ("013100000010000", 20_000, 1),         // 丙 check-up
    ("HOSP-LOCAL-0001", 1_234, 1),          // unlisted → 丙
    ("ZZ0000000000000001", 300_000, 1),     // 丙 cosmetic
];

fn line(i: usize) -> FeeLine {
    let (code, price_fen, units) = LINES[i % LINES.len()];
    FeeLine {
        feedetl_sn: Some(format!("{}", i + 1)),
        med_list_codg: Some(code.to_string()),
        chrgitm_lv: None,
        pric: Some(Price::from_fen(Fen(price_fen))),
        cnt: Some(Qty(units * 10_000)),
        det_item_fee_sumamt: Some(Fen(price_fen * units)),
        selfpay_prop: None,
        pric_uplmt_amt: None,
    }
}

fn claim(k: usize) -> Claim {
    let (insutype, psn_type, med_type) =
        [("310", "1101", "11"), ("310", "1201", "21"), ("390", "1501", "21"), ("310", "1101", "14")][k % 4];
    let n = 5 + k % 6;
    Claim {
        person: ClaimPerson {
            insutype: insutype.into(),
            psn_type: psn_type.into(),
            age: Some(50),
            insuplc_admdvs: Some("440300".into()),
            idet_types: if k.is_multiple_of(5) { vec!["2302".into()] } else { vec![] },
        },
        visit: ClaimVisit {
            med_type: med_type.into(),
            hosp_grade: 1 + (k % 3) as u32,
            mdtrtarea_admvs: Some("440300".into()),
            date: Date { year: 2024, month: 6, day: 1 },
            admissions_this_year: Some(1 + (k % 2) as u32),
            admission_dedc_paid: Fen::ZERO,
        },
        ytd: Ytd { hifp_paid: Fen((k as i64 % 7) * 7_000_000), ..Ytd::ZERO },
        // Residents (390) have no personal account of their own.
        acct: Acct {
            used: k.is_multiple_of(2),
            balc: Fen(if insutype == "390" { 0 } else { 80_000 }),
            mulaid_balc: Fen((k as i64 % 3) * 10_000),
        },
        fees: (k..k + n).map(line).collect(),
    }
}

fn engine(c: &mut Criterion) {
    let policy = builtin("shenzhen-2024").expect("built-in set loads");
    let claims: Vec<Claim> = (0..64).map(claim).collect();
    let lines: usize = claims.iter().map(|c| c.fees.len()).sum();
    let mut group = c.benchmark_group("adjudicate");
    group.throughput(Throughput::Elements(lines as u64));
    group.bench_function("64 claims, 5-10 lines each", |b| {
        b.iter(|| {
            for claim in &claims {
                black_box(adjudicate(black_box(claim), &policy).expect("valid claim"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
