import { type MessageOf, messageMaker, type Vocabulary } from "../platform/i18n.js";

/** What signing in, sessions and user accounts say to people. */
export type AccessWords = {
  /** A wrong user name or password, an unknown or a disabled user: one answer, so names cannot be probed. */
  login_failed: Record<string, never>;
  /** Too many failed sign-ins for this account: refused, even with the right password, for `retryAfterS` seconds. */
  account_locked: { retryAfterS: number };
  /** Too many sign-in attempts from one address within a minute. */
  too_many_logins: { retryAfterS: number };
  /** A write authenticated by the session cookie came without the session's `x-csrf-token` header. */
  csrf_missing: Record<string, never>;
  /** The account's password was set by someone else (first start, an admin's reset): it must be changed first. */
  password_change_required: Record<string, never>;
  /** The current password given to a change is wrong. */
  current_password_wrong: Record<string, never>;
  /** The new password is the current one. */
  password_unchanged: Record<string, never>;
  /** An admin may not disable, delete or demote the account they are signed in with. */
  own_account: Record<string, never>;
  /** A password change needs a signed-in user (an API key has no password). */
  not_a_user: Record<string, never>;
};

export const ACCESS_WORDS: Vocabulary<AccessWords> = {
  login_failed: { zh: () => "用户名或密码错误", en: () => "Wrong user name or password" },
  account_locked: {
    zh: (p, f) => `登录失败次数过多，该账户已暂时锁定，请 ${f.num(p.retryAfterS, 0)} 秒后再试`,
    en: (p, f) => `Too many failed sign-ins: the account is locked; try again in ${f.num(p.retryAfterS, 0)} s`,
  },
  too_many_logins: {
    zh: (p, f) => `此地址登录尝试过多，请 ${f.num(p.retryAfterS, 0)} 秒后再试`,
    en: (p, f) => `Too many sign-in attempts from this address; try again in ${f.num(p.retryAfterS, 0)} s`,
  },
  csrf_missing: {
    zh: () => "缺少或无效的防跨站请求令牌（用账户登录时，每个修改操作都须带上登录时得到的令牌）",
    en: () => "Missing or wrong x-csrf-token header (writes signed in by session cookie must send the token given at sign-in)",
  },
  password_change_required: {
    zh: () => "请先修改密码：此账户的密码由他人设置，修改之前不能做其他操作",
    en: () => "Change the password first (POST /api/v1/me/password)",
  },
  current_password_wrong: { zh: () => "当前密码错误", en: () => "The current password is wrong" },
  password_unchanged: { zh: () => "新密码不能与当前密码相同", en: () => "The new password must differ from the current one" },
  own_account: {
    zh: () => "不能停用、删除自己正在使用的账户或更改其角色",
    en: () => "You cannot disable, delete or change the role of the account you are signed in with",
  },
  not_a_user: { zh: () => "API 密钥没有密码：请用用户账户登录", en: () => "An API key has no password: sign in with a user account" },
};
export const accessMessage = messageMaker<AccessWords>();
export type AccessMessage = MessageOf<AccessWords>;
