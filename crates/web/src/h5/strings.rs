//! The phone pages' strings and the error messages of the patient API.

use crate::i18n::Table;

pub const STRINGS: Table = &[
    ("h5_start_title", "医保无感支付", "Queue-free hospital payment"),
    (
        "h5_start_intro",
        "签约后看病不用排队缴费：医生确认后自动结算，医保报销与个人支付一次完成。",
        "Sign up once and never queue to pay: when the doctor confirms, insurance and your share are settled at once.",
    ),
    ("signin_title", "手机号登录", "Sign in with your mobile number"),
    ("mobile_label", "手机号码", "Mobile number"),
    ("mobile_hint", "11位中国大陆手机号", "11-digit mainland China mobile number"),
    ("send_code", "获取验证码", "Send me a code"),
    ("code_label", "短信验证码", "Code from the text message"),
    ("code_hint", "6位数字，5分钟内有效", "6 digits, valid for 5 minutes"),
    ("sign_in", "登录", "Sign in"),
    ("code_sent", "验证码已发送，请查看短信。", "We sent you a code. Check your text messages."),
];

pub const ERRORS: Table = &[];
