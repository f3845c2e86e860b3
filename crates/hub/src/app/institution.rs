//! A hospital's envelope identity, from its record (issue 15): its name, not its code, and its own
//! 就医地医保区划 where it has one, instead of constants.

use super::*;

impl App {
    /// The institution a hospital's messages go out as. A hospital without a record (none is
    /// authenticated without one) is sent under its code.
    pub(crate) async fn institution(&self, hospital: &str) -> Result<Institution, AppError> {
        let profile = self.store.hospital_profile(hospital).await?;
        Ok(match profile {
            Some(p) => Institution { fixmedins_code: p.code, fixmedins_name: p.name, mdtrtarea_admvs: p.mdtrtarea_admvs },
            None => Institution { fixmedins_code: hospital.to_string(), fixmedins_name: hospital.to_string(), mdtrtarea_admvs: None },
        })
    }
}
