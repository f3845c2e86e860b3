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
    ("home_title", "我的", "My account"),
    ("nav_home", "首页", "Home"),
    ("sign_out", "退出登录", "Sign out"),
    ("signed_in_as", "当前登录手机号", "Signed in with"),
    ("identity_title", "实名认证", "Your real name"),
    ("identity_bound", "已实名认证", "Verified"),
    (
        "identity_needed",
        "签约前需要实名认证一次：填写身份证号和姓名，由医保系统核对。",
        "Before you sign up, verify your real name once: your ID number and name are checked with the insurance system.",
    ),
    ("identity_name", "姓名", "Name"),
    ("identity_certno", "身份证号", "ID card number"),
    ("identity_certno_hint", "18位居民身份证号", "18-character resident ID number"),
    ("identity_face", "人脸核身流水号", "Face check reference"),
    ("identity_face_hint", "由微信或随申办人脸核身后自动带入", "Filled in by the face check in WeChat or Suishenban"),
    ("identity_submit", "提交实名认证", "Verify my name"),
    ("psn_no", "医保个人编号", "Insurance person number"),
];

pub const ERRORS: Table = &[
    ("invalid_mobile", "请输入11位手机号码。", "Enter an 11-digit mobile number."),
    ("code_rate_limited", "验证码发送太频繁，请1分钟后再试。", "Codes were sent too often. Try again in a minute."),
    ("sms_unavailable", "短信暂时发送失败，请稍后再试。", "The text message could not be sent. Try again later."),
    ("wrong_code", "验证码不正确，请核对短信后重新输入。", "That code is not right. Check the text message and try again."),
    ("no_live_code", "验证码已失效，请重新获取。", "This code has expired or was used. Ask for a new one."),
    ("identity_mismatch", "姓名与身份证号不符，请核对。", "The name does not match the ID number. Please check."),
    ("identity_already_bound", "此手机号已绑定其他人的身份。", "This mobile number is already verified as another person."),
    ("identity_taken", "此身份已绑定其他手机号。", "This person is already verified with another mobile number."),
    ("person_not_found", "医保系统中没有找到此身份证号。", "The insurance system does not know this ID number."),
    ("insurance_unavailable", "医保系统暂时无法连接，请稍后再试。", "The insurance system cannot be reached. Try again later."),
    ("agreement_not_found", "没有找到这份签约。", "We cannot find this agreement."),
];
