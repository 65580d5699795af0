//! GitHub: the event payloads of issue mode ([`event`]: what to do) and the REST calls that
//! answer them ([`api`]: comment, label, close).

pub(crate) mod api;
pub(crate) mod event;
