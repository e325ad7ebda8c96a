import type { Failure } from "../../http/problem";
import type { Messages } from "./types";

/** Russian plural forms: 1 попытка, 2 попытки, 5 попыток (21 попытка, 11 попыток). */
const plural = (n: number, one: string, few: string, many: string) => {
  const tens = n % 100;
  const units = n % 10;
  if (units === 1 && tens !== 11) return one;
  if (units >= 2 && units <= 4 && (tens < 12 || tens > 14)) return few;
  return many;
};

const inTime = (seconds: number | undefined) => {
  if (seconds === undefined) return "позже";
  if (seconds < 90) return `через ${seconds} с`;
  if (seconds < 5400) return `через ${Math.ceil(seconds / 60)} мин`;
  return `через ${Math.ceil(seconds / 3600)} ч`;
};

const attemptsLeft = (n: number) => `${plural(n, "Осталась", "Осталось", "Осталось")} ${n} ${plural(n, "попытка", "попытки", "попыток")}`;

/** Весь русский текст страниц. */
export const ru: Messages = {
  languageName: "Русский",
  nav: {
    skip: "Перейти к содержимому",
    language: "Язык",
    account: "Аккаунт",
    logOut: "Выйти",
  },
  form: {
    required: "Заполните это поле.",
    optional: "необязательно",
    tooLong: (max) => `Не больше ${max} ${plural(max, "символа", "символов", "символов")}.`,
    invalidEmail: "Введите адрес почты вида name@example.com.",
    problemTitle: "Есть ошибка",
  },
  phone: {
    title: "Вход",
    lead: "Введите номер мобильного телефона, и мы пришлём одноразовый код в SMS. Если вы здесь впервые, эта же форма создаст аккаунт.",
    label: "Номер мобильного",
    hintRegion: (country, code) => `Код страны +${code} (${country}) можно не вводить; номера других стран начинайте с + и кода страны.`,
    hintAny: "Начните с + и кода страны, например +7 912 345-67-89.",
    submit: "Получить код",
    passwordLink: "Войти по паролю",
    captcha: "Пройдите проверку ниже, затем запросите код.",
    signedOut: "Вы вышли из аккаунта.",
    sessionEnded: "Сеанс завершён. Войдите снова, чтобы продолжить.",
  },
  password: {
    title: "Вход по паролю",
    lead: "Если вы задали пароль в профиле, войдите с ним и номером телефона.",
    phone: "Номер мобильного",
    password: "Пароль",
    submit: "Войти",
    codeLink: "Получить код по SMS",
  },
  verify: {
    title: "Введите код",
    lead: "Мы отправили SMS с кодом на номер",
    change: "Указать другой номер",
    code: "Код из SMS",
    codeHint: (length) => `${length} ${plural(length, "цифра", "цифры", "цифр")}.`,
    codeFormat: (length) => `Введите ${length} ${plural(length, "цифру", "цифры", "цифр")} из SMS.`,
    inviteToggle: "Есть код приглашения?",
    invite: "Код приглашения",
    inviteHint: "Только для новых аккаунтов: код друга, который вас пригласил.",
    submit: "Продолжить",
    resendWait: (seconds) => `Новый код можно запросить через ${seconds} с.`,
    resendReady: "Код не пришёл? Можно запросить новый.",
    resend: "Отправить новый код",
    resent: "Новый код уже в пути.",
    otherChannels: "Код не пришёл? Получите его иначе:",
    sendBy: { whatsapp: "Прислать в WhatsApp", telegram: "Прислать в Telegram", voice: "Позвонить мне" },
    resentBy: {
      whatsapp: "Новый код отправлен в WhatsApp.",
      telegram: "Новый код отправлен в Telegram.",
      voice: "Мы звоним вам, чтобы продиктовать новый код.",
    },
    sandboxTitle: "Имитация SMS",
    sandboxText: "Песочница разработки: SMS не отправляются. Ваш код:",
  },
  profile: {
    title: "Ваш профиль",
    welcome: (name) => (name ? `Здравствуйте, ${name}` : "Здравствуйте"),
    phone: "Телефон",
    memberSince: (date) => `С нами с ${date}`,
    details: "Личные данные",
    firstName: "Имя",
    lastName: "Фамилия",
    email: "Электронная почта",
    save: "Сохранить",
    saved: "Данные сохранены.",
    inviteTitle: "Пригласите друзей",
    inviteLead: "Поделитесь кодом приглашения. За каждого друга, который его активирует, вы получаете баллы.",
    yourCode: "Ваш код приглашения",
    copy: "Копировать",
    copied: "Скопировано в буфер обмена.",
    activateTitle: "Активировать код приглашения",
    activateLead: "Вас пригласил друг? Введите его код. Это можно сделать один раз.",
    activateField: "Код приглашения друга",
    activate: "Активировать",
    activated: "Код приглашения активирован.",
    activatedWith: (code) => `Вы присоединились по коду приглашения ${code}.`,
    statsTitle: "Рефералы",
    points: "Баллы",
    direct: "Приглашено вами",
    second: "Приглашено ими",
    network: "Вся сеть",
    listTitle: "Кого вы пригласили",
    listEmpty: "Вашим кодом пока никто не воспользовался.",
    listPhone: "Телефон",
    listJoined: "Присоединился",
    listStatus: "Статус",
    deletedPhone: "Аккаунт удалён",
    status: { active: "Активен", inactive: "Отключён", deleted: "Удалён" },
    older: "Более ранние",
    newest: "К самым новым",
    passwordTitle: "Пароль",
    passwordLeadNew: "Задайте пароль, чтобы входить без SMS. Сразу после входа по коду это можно сделать без лишних проверок.",
    passwordLeadChange: "Смените пароль. На других устройствах произойдёт выход.",
    currentPassword: "Текущий пароль",
    newPassword: "Новый пароль",
    newPasswordHint: (min) =>
      `Не короче ${min} ${plural(min, "символа", "символов", "символов")}. Несколько слов через пробел — надёжный и запоминающийся пароль.`,
    setPassword: "Задать пароль",
    changePassword: "Сменить пароль",
    passwordSaved: "Пароль сохранён. На других устройствах выполнен выход.",
    sessionsTitle: "Где выполнен вход",
    sessionCurrent: "Это устройство",
    sessionStarted: (date) => `Вход ${date}`,
    sessionUsed: (date) => `активность ${date}`,
    unknownDevice: "Неизвестное устройство",
    revoke: "Завершить",
    revoked: "Сеанс на том устройстве завершён.",
    logOut: "Выйти",
    deleteTitle: "Удаление аккаунта",
    deleteLead:
      "Профиль, пароль и сеансы будут удалены навсегда. Приглашённые вами люди сохранят свои аккаунты. Нужен вход не раньше чем 5 минут назад или текущий пароль.",
    deleteConfirm: "Да, удалить мой аккаунт со всеми данными.",
    deleteConfirmMissing: "Отметьте флажок, чтобы подтвердить.",
    deletePassword: "Текущий пароль",
    delete: "Удалить аккаунт",
    deleted: "Ваш аккаунт удалён.",
  },
  errorPage: {
    title: "Что-то пошло не так",
    csrfTitle: "Форму не удалось отправить",
    csrf: "Форма пришла с другого сайта или устарела. Вернитесь назад, обновите страницу и попробуйте снова.",
    retryTitle: "Минутку",
    retry: "Проверяем сеанс…",
    continue: "Продолжить",
    home: "На главную",
    reference: (id) => `Номер обращения: ${id}`,
  },
  errors: {
    malformed_request: () => "Не удалось прочитать форму. Попробуйте ещё раз.",
    unsupported_media_type: () => "Не удалось прочитать форму. Попробуйте ещё раз.",
    validation_failed: () => "Проверьте это поле.",
    invalid_phone: () => "Это не номер мобильного, на который можно отправить SMS. Проверьте номер и код страны.",
    country_not_allowed: () => "К сожалению, на номера этой страны коды не отправляются.",
    captcha_required: () => "Пройдите проверку, что вы не робот.",
    captcha_failed: () => "Проверка не пройдена. Попробуйте ещё раз.",
    rate_limited: (f: Failure) => `Слишком много запросов. Попробуйте ${inTime(f.retry_after)}.`,
    resend_too_soon: (f: Failure) => `Код только что отправлен. Новый можно запросить ${inTime(f.retry_after)}.`,
    sms_delivery_failed: () => "Не удалось отправить код. Попробуйте позже.",
    channel_unavailable: () => "Этот способ отправки кода недоступен для этого номера.",
    invalid_code: (f: Failure) =>
      f.attempts_left
        ? `Неверный код. ${attemptsLeft(f.attempts_left)}.`
        : "Неверный код, и это была последняя попытка. Запросите новый код.",
    code_expired: () => "Срок действия кода истёк или он уже использован. Запросите новый.",
    too_many_attempts: (f: Failure) =>
      f.retry_after
        ? `Слишком много неверных попыток. Попробуйте ${inTime(f.retry_after)}.`
        : "Слишком много неверных попыток. Запросите новый код.",
    unauthorized: () => "Сеанс завершён. Войдите снова.",
    invalid_token: () => "Сеанс завершён. Войдите снова.",
    token_reused: () => "В целях безопасности выполнен выход. Войдите снова.",
    invalid_credentials: () => "Неверный номер телефона или пароль.",
    reauthentication_required: () =>
      "Подтвердите, что это вы: введите текущий пароль или выйдите, войдите снова по коду и повторите в течение 5 минут.",
    current_password_required: () => "Введите текущий пароль.",
    current_password_invalid: () => "Текущий пароль неверен.",
    account_disabled: () => "Этот аккаунт отключён.",
    forbidden: () => "У вас нет доступа.",
    weak_password: (f: Failure, min: number) =>
      ({
        too_short: `Нужно не меньше ${min} ${plural(min, "символа", "символов", "символов")}. Подойдут несколько слов через пробел.`,
        too_long: "Не больше 128 символов.",
        common: "Это один из самых распространённых паролей. Придумайте менее предсказуемый.",
        contains_phone: "Не используйте в пароле свой номер телефона.",
      })[String(f.rule)] ?? "Придумайте пароль понадёжнее.",
    phone_taken: () => "Этот номер принадлежит другому аккаунту.",
    invite_not_found: () => "Такого кода приглашения нет. Проверьте написание.",
    own_invite_code: () => "Это ваш собственный код. Введите код друга.",
    invite_already_activated: (f: Failure) =>
      f.activated_invite_code ? `Вы уже активировали код ${String(f.activated_invite_code)}.` : "Вы уже активировали код приглашения.",
    invite_inactive: () => "Владелец этого кода отключён.",
    invite_cycle: () => "Этот код принадлежит тому, кого пригласили вы, поэтому его нельзя активировать.",
    self_lockout: () => "Нельзя сделать это со своим аккаунтом.",
    sms_budget_exhausted: () => "Дневной лимит SMS исчерпан. Попробуйте завтра.",
    service_unavailable: () => "Сервис ненадолго недоступен. Попробуйте через минуту.",
    not_found: () => "Такой страницы нет.",
    method_not_allowed: () => "Это действие здесь недоступно.",
    payload_too_large: () => "Форма слишком большая.",
    internal_error: () => "У нас что-то сломалось. Попробуйте ещё раз.",
  },
  dates: "ru-RU",
};
