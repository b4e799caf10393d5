//! What the config says of DTS, and where a DTS instance lives (kept apart so that an
//! `Instance` can name its job without depending on the client).

pub const DEFAULT_ENDPOINT: &str = "https://dts.aliyuncs.com";

/// The `[dts]` section of the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtsSettings {
    pub regions: Vec<String>,
    pub endpoint: String,
    pub profile: Option<String>,
}

/// Where a DTS instance lives, to ask DTS about it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    pub settings: DtsSettings,
    pub region: String,
}
