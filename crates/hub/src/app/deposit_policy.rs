//! A hospital's deposit policy (押金政策), typed: whether it issues deposit receipts (押金收据) for
//! the deposits held on patients' credit lines. Set at onboarding and changed later by the
//! operator (`PUT /api/v1/operator/hospitals/{code}/deposit_policy`); an unknown value is refused
//! with `unknown_deposit_policy`. Rows written before the policy was typed held free text: they
//! read as `no_receipts`, the default (docs/e-invoice.md says nothing that makes receipts the rule).
//! A change applies to the pieces of a hold placed after it: a stay's receipts are decided as each
//! piece is held (`store::deposit_receipts`).

use super::commands::text_not_blank;
use super::hospitals::HospitalView;
use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepositPolicy {
    /// The deposit is held on the line; no receipt is issued (the settlement's invoice states all).
    NoReceipts,
    /// A signed deposit receipt for the deposit and each raise, recovered at the settlement.
    Receipts,
}

impl DepositPolicy {
    /// Every value the operator may set, as the API spells it.
    pub const VALUES: [&'static str; 2] = ["no_receipts", "receipts"];

    pub fn as_str(self) -> &'static str {
        match self {
            DepositPolicy::NoReceipts => "no_receipts",
            DepositPolicy::Receipts => "receipts",
        }
    }

    pub fn parse(text: &str) -> Option<DepositPolicy> {
        match text {
            "no_receipts" => Some(DepositPolicy::NoReceipts),
            "receipts" => Some(DepositPolicy::Receipts),
            _ => None,
        }
    }

    /// What a stored value means: anything but `receipts` (free text of older rows, none) is none.
    pub fn of_stored(text: Option<&str>) -> DepositPolicy {
        text.and_then(DepositPolicy::parse).unwrap_or(DepositPolicy::NoReceipts)
    }

    /// The operator's value (absent or blank: the default), or `unknown_deposit_policy`.
    pub fn of_request(text: Option<&str>) -> Result<DepositPolicy, AppError> {
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(DepositPolicy::NoReceipts),
            Some(t) => DepositPolicy::parse(t).ok_or_else(|| {
                AppError::invalid("unknown_deposit_policy", format!("deposit_policy must be one of {}", DepositPolicy::VALUES.join(", ")))
            }),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDepositPolicyRequest {
    /// `no_receipts` or `receipts` (押金收据 for each deposit and raise held on the line).
    #[schema(schema_with = text_not_blank::<64>)]
    pub deposit_policy: String,
}

impl App {
    /// Changes a hospital's deposit policy; holds placed from now on follow it.
    pub async fn set_deposit_policy(&self, code: &str, req: SetDepositPolicyRequest) -> Result<HospitalView, AppError> {
        // A change names the policy: blank is no policy at all (at onboarding it means the default).
        if req.deposit_policy.trim().is_empty() {
            return Err(AppError::invalid("unknown_deposit_policy", "deposit_policy is no_receipts or receipts"));
        }
        let policy = DepositPolicy::of_request(Some(&req.deposit_policy))?;
        if !self.store.set_deposit_policy(code, policy.as_str()).await? {
            return Err(AppError::not_found("hospital_not_found", format!("no hospital {code} on this hub")));
        }
        let hospital = self.store.hospital(code).await?.ok_or_else(|| AppError::internal("a hospital just changed is missing"))?;
        Ok(super::hospitals::hospital_view(&hospital))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operators_values_are_read_strictly_and_old_rows_leniently() {
        let cases: [(Option<&str>, Result<&str, &str>, &str); 6] = [
            (None, Ok("no_receipts"), "no_receipts"),
            (Some("  "), Ok("no_receipts"), "no_receipts"),
            (Some("receipts"), Ok("receipts"), "receipts"),
            (Some(" receipts "), Ok("receipts"), "no_receipts"),
            (Some("no_receipts"), Ok("no_receipts"), "no_receipts"),
            (Some("estimated"), Err("unknown_deposit_policy"), "no_receipts"),
        ];
        for (text, asked, stored) in cases {
            let got = DepositPolicy::of_request(text).map(DepositPolicy::as_str).map_err(|e| e.code());
            assert_eq!(got, asked, "asked {text:?}");
            assert_eq!(DepositPolicy::of_stored(text).as_str(), stored, "stored {text:?}");
        }
    }
}
