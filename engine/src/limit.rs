//! The request limits a node enforces, named once for the limiter, its refusals and its
//! metric (`voxgate_rate_limited_total{kind}`).

/// What a refusal was about: the `kind` label of `voxgate_rate_limited_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Browser endpoints and sign-in, per client address.
    Address,
    Messages,
    Offers,
    Trickles,
    /// The control plane, per workspace key.
    Key,
    /// Sessions created, per widget.
    WidgetSessions,
}

impl LimitKind {
    pub const ALL: [LimitKind; 6] = [
        LimitKind::Address,
        LimitKind::Messages,
        LimitKind::Offers,
        LimitKind::Trickles,
        LimitKind::Key,
        LimitKind::WidgetSessions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Address => "address",
            LimitKind::Messages => "messages",
            LimitKind::Offers => "offers",
            LimitKind::Trickles => "trickles",
            LimitKind::Key => "key",
            LimitKind::WidgetSessions => "widget_sessions",
        }
    }
}
