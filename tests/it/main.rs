mod support;
mod support_smoke;
