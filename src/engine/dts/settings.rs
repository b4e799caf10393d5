//! What the config says of DTS, and where a DTS instance lives (kept apart so that an
//! `Instance` can name its job without depending on the client).

pub const DEFAULT_ENDPOINT: &str = "https://dts.aliyuncs.com";

/// The `[dts]` section of the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtsSettings {
    pub regions: Vec<String>,
    pub endpoint: String,
    pub profile: Option<String>,
    /// STS, for roles (default https://sts.aliyuncs.com).
    pub sts_endpoint: Option<String>,
    /// The ECS metadata service, for an instance's RAM role (default http://100.100.100.200).
    pub metadata_endpoint: Option<String>,
}

/// Where a DTS instance lives, to ask DTS about it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    pub settings: DtsSettings,
    pub region: String,
    /// The config's entry says `topology = "one-way"` (an operator's assertion, weighed
    /// against DTS's evidence each time the job is observed).
    pub one_way_asserted: bool,
}
