//! Several banks at once (issue 15): `serve`'s config file may list further banks beside the
//! first; each agreement is routed to its own bank, so one that is down affects only its patients.

use wugan_hub::bank_client::BankEndpoint;

/// One more bank of `serve`'s config file (`banks: [...]`).
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankConfig {
    pub bank_code: String,
    /// The bank's name as patients choose it and staff read it (default: its code).
    #[serde(default)]
    pub name: Option<String>,
    pub url: String,
    pub key_id: String,
    /// What the hub signs its requests with.
    pub secret: String,
    /// What the bank signs its callbacks with.
    pub callback_secret: String,
}

impl From<BankConfig> for BankEndpoint {
    fn from(b: BankConfig) -> BankEndpoint {
        BankEndpoint { bank_code: b.bank_code, url: b.url, key_id: b.key_id, secret: b.secret, callback_secret: b.callback_secret }
    }
}

/// The configured banks' names by code: the first bank's (`bank_name`) and each further one's
/// (`banks[].name`), trimmed; a blank name is none. A name over 40 characters, or holding a
/// control or text-direction character, is refused.
pub fn names(
    first_code: &str,
    first_name: Option<String>,
    more: &[BankConfig],
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let named = std::iter::once((first_code.to_string(), first_name)).chain(more.iter().map(|b| (b.bank_code.clone(), b.name.clone())));
    let names: std::collections::BTreeMap<String, String> =
        named.filter_map(|(code, name)| Some((code, name?.trim().to_string()))).filter(|(_, n)| !n.is_empty()).collect();
    if let Some((code, name)) = names.iter().find(|(_, n)| n.chars().count() > 40) {
        anyhow::bail!("bank {code}'s name is longer than 40 characters: {name}");
    }
    // Shown on every patient's page: no control characters, no reordering of the text around it.
    let unprintable = |c: char| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c);
    if let Some((code, _)) = names.iter().find(|(_, n)| n.chars().any(unprintable)) {
        anyhow::bail!("bank {code}'s name holds a control or text-direction character");
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_configured_names_are_trimmed_blank_ones_dropped_and_long_ones_refused() {
        let more = |code: &str, name: Option<&str>| super::BankConfig {
            bank_code: code.into(),
            name: name.map(str::to_string),
            url: String::new(),
            key_id: String::new(),
            secret: String::new(),
            callback_secret: String::new(),
        };
        let names =
            super::names("B1", Some(" 广州农商银行 ".into()), &[more("B2", Some(" ")), more("B3", None), more("B4", Some("招商银行"))])
                .unwrap();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), [("B1".into(), "广州农商银行".into()), ("B4".into(), "招商银行".into())]);
        assert!(super::names("B1", Some("银".repeat(41)), &[]).is_err());
        assert!(super::names("B1", Some("银行\u{202e}行银".into()), &[]).is_err(), "a text-direction override");
        assert!(super::names("B1", Some("银\n行".into()), &[]).is_err());
    }
}
