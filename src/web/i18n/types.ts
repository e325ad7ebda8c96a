import type { ErrorCode, Failure } from "../../http/problem";

/** The shape every language's dictionary fills in; a missing text is a type error. */
export type Messages = {
  /** The language's own name, for the switch. */
  languageName: string;
  nav: { skip: string; language: string; account: string; logOut: string };
  form: {
    required: string;
    optional: string;
    tooLong: (max: number) => string;
    invalidEmail: string;
    problemTitle: string;
  };
  phone: {
    title: string;
    lead: string;
    label: string;
    hintRegion: (country: string, callingCode: string) => string;
    hintAny: string;
    submit: string;
    passwordLink: string;
    captcha: string;
    signedOut: string;
    sessionEnded: string;
  };
  password: { title: string; lead: string; phone: string; password: string; submit: string; codeLink: string };
  verify: {
    title: string;
    lead: string;
    change: string;
    code: string;
    codeHint: (length: number) => string;
    codeFormat: (length: number) => string;
    inviteToggle: string;
    invite: string;
    inviteHint: string;
    submit: string;
    resendWait: (seconds: string) => string;
    resendReady: string;
    resend: string;
    resent: string;
    /** "Didn't get it? Send by": before the other channels' buttons. */
    otherChannels: string;
    sendBy: { whatsapp: string; telegram: string; voice: string };
    resentBy: { whatsapp: string; telegram: string; voice: string };
    sandboxTitle: string;
    sandboxText: string;
  };
  profile: {
    title: string;
    welcome: (name: string | null) => string;
    phone: string;
    memberSince: (date: string) => string;
    details: string;
    firstName: string;
    lastName: string;
    email: string;
    save: string;
    saved: string;
    inviteTitle: string;
    inviteLead: string;
    yourCode: string;
    copy: string;
    copied: string;
    activateTitle: string;
    activateLead: string;
    activateField: string;
    activate: string;
    activated: string;
    activatedWith: (code: string) => string;
    statsTitle: string;
    points: string;
    direct: string;
    second: string;
    network: string;
    listTitle: string;
    listEmpty: string;
    listPhone: string;
    listJoined: string;
    listStatus: string;
    deletedPhone: string;
    status: { active: string; inactive: string; deleted: string };
    older: string;
    newest: string;
    passwordTitle: string;
    passwordLeadNew: string;
    passwordLeadChange: string;
    currentPassword: string;
    newPassword: string;
    newPasswordHint: (min: number) => string;
    setPassword: string;
    changePassword: string;
    passwordSaved: string;
    sessionsTitle: string;
    sessionCurrent: string;
    sessionStarted: (date: string) => string;
    sessionUsed: (date: string) => string;
    unknownDevice: string;
    revoke: string;
    revoked: string;
    logOut: string;
    deleteTitle: string;
    deleteLead: string;
    deleteConfirm: string;
    deleteConfirmMissing: string;
    deletePassword: string;
    delete: string;
    deleted: string;
  };
  errorPage: {
    title: string;
    csrfTitle: string;
    csrf: string;
    retryTitle: string;
    retry: string;
    continue: string;
    home: string;
    reference: (requestId: string) => string;
  };
  /** A human message for every error code of the contract; `min` is PASSWORD_MIN_LENGTH. */
  errors: Record<ErrorCode, (failure: Failure, min: number) => string>;
  /** Locale for dates (`Intl.DateTimeFormat`). */
  dates: string;
};
