// Ferry web client: the words on screen, in English and Simplified Chinese.
// The language comes from the browser unless the user picked one (kept in
// localStorage). Elements name their text with data-i18n (textContent) or
// data-i18n-placeholder; scripts call FerryI18n.t(key, params).
'use strict';

(function () {
  const MESSAGES = {
    en: {
      'app.title': 'Ferry',
      'nav.home': 'Home',
      'nav.language': 'Language',
      'auth.signin': 'Sign in',
      'auth.signout': 'Sign out',
      'auth.username': 'Username',
      'auth.password': 'Password',
      'home.consultations': 'Consultations that need you',
      'home.none': 'Nothing needs you now.',
      'home.facilities': 'Facilities',
      'home.patients': 'Patients',
      'patients.search': 'Name, national ID or record number',
      'patients.find': 'Search',
      'patients.none': 'No patient in your scope matches.',
      'col.name': 'Name',
      'col.person': 'Name',
      'col.tier': 'Tier',
      'col.zone': 'Time zone',
      'col.sex': 'Sex',
      'col.born': 'Born',
      'col.records': 'Records',
      'col.patient': 'Patient',
      'col.with': 'With',
      'col.specialty': 'Specialty',
      'col.urgency': 'Urgency',
      'col.status': 'Status',
      'consultation.join': 'Join the call',
      'status.requested': 'requested',
      'status.scheduled': 'scheduled',
      'status.in_progress': 'in progress',
      'status.awaiting_opinion': 'awaiting opinion',
      'status.completed': 'completed',
      'status.cancelled': 'cancelled',
      'status.declined': 'declined',
      'urgency.routine': 'routine',
      'urgency.urgent': 'urgent',
      'urgency.emergency': 'emergency',
      'call.title': 'Video consultation',
      'call.you': 'You',
      'call.waiting': 'Waiting for the other side to join…',
      'call.mute': 'Mute',
      'call.unmute': 'Unmute',
      'call.camera_off': 'Camera off',
      'call.camera_on': 'Camera on',
      'call.leave': 'Leave',
      'call.mode': 'Video',
      'call.mode.normal': 'Normal',
      'call.mode.low': 'Low bandwidth (small video)',
      'call.mode.off': 'Audio only',
      'call.quality': 'Connection',
      'call.quality.good': 'good',
      'call.quality.poor': 'poor',
      'call.quality.unknown': 'measuring…',
      'call.quality.figures': 'round trip {rtt} ms · loss {loss}% · {kbps} kbit/s',
      'call.poor_switch': 'The link is poor: sending small video. Choose “Normal” to send full video again.',
      'call.reconnecting': 'Connection lost. Reconnecting…',
      'call.no_camera': 'No camera or microphone could be opened: {reason}',
      'call.consent': 'I consent to recording this call',
      'call.recording': 'Recording',
      'call.consents': 'Consented to recording: {names}',
      'call.recording_stopped': 'Recording stopped ({reason}).',
      'call.left': '{name} left the call.',
      'error.generic': 'Something went wrong: {message}',
      'error.not_allowed': 'Your role does not give you this screen.',
    },
    'zh-CN': {
      'app.title': 'Ferry',
      'nav.home': '首页',
      'nav.language': '语言',
      'auth.signin': '登录',
      'auth.signout': '退出',
      'auth.username': '用户名',
      'auth.password': '密码',
      'home.consultations': '待您处理的会诊',
      'home.none': '目前没有待您处理的事项。',
      'home.facilities': '机构',
      'home.patients': '患者',
      'patients.search': '姓名、身份证号或病历号',
      'patients.find': '查找',
      'patients.none': '您的权限范围内没有匹配的患者。',
      'col.name': '名称',
      'col.person': '姓名',
      'col.tier': '级别',
      'col.zone': '时区',
      'col.sex': '性别',
      'col.born': '出生日期',
      'col.records': '病历',
      'col.patient': '患者',
      'col.with': '对方',
      'col.specialty': '专科',
      'col.urgency': '紧急程度',
      'col.status': '状态',
      'consultation.join': '进入视频会诊',
      'status.requested': '已申请',
      'status.scheduled': '已预约',
      'status.in_progress': '进行中',
      'status.awaiting_opinion': '待出具意见',
      'status.completed': '已完成',
      'status.cancelled': '已取消',
      'status.declined': '已拒绝',
      'urgency.routine': '常规',
      'urgency.urgent': '紧急',
      'urgency.emergency': '急诊',
      'call.title': '视频会诊',
      'call.you': '我',
      'call.waiting': '等待对方加入…',
      'call.mute': '静音',
      'call.unmute': '取消静音',
      'call.camera_off': '关闭摄像头',
      'call.camera_on': '打开摄像头',
      'call.leave': '离开',
      'call.mode': '视频',
      'call.mode.normal': '标准',
      'call.mode.low': '低带宽（小画面）',
      'call.mode.off': '仅语音',
      'call.quality': '网络',
      'call.quality.good': '良好',
      'call.quality.poor': '较差',
      'call.quality.unknown': '测量中…',
      'call.quality.figures': '往返 {rtt} 毫秒 · 丢包 {loss}% · {kbps} kbit/s',
      'call.poor_switch': '网络较差：已改为发送小画面。选择“标准”可恢复完整视频。',
      'call.reconnecting': '连接中断，正在重新连接…',
      'call.no_camera': '无法打开摄像头或麦克风：{reason}',
      'call.consent': '我同意对本次会诊录像',
      'call.recording': '录制中',
      'call.consents': '已同意录像：{names}',
      'call.recording_stopped': '录像已停止（{reason}）。',
      'call.left': '{name} 已离开会诊。',
      'error.generic': '出错了：{message}',
      'error.not_allowed': '您的角色无权使用此页面。',
    },
  };
  const LANGUAGES = [
    ['zh-CN', '中文'],
    ['en', 'English'],
  ];
  const STORAGE_KEY = 'ferry.language';

  function fromBrowser() {
    for (const tag of navigator.languages || [navigator.language || 'en']) {
      if (tag.toLowerCase().startsWith('zh')) {
        return 'zh-CN';
      }
      if (tag.toLowerCase().startsWith('en')) {
        return 'en';
      }
    }
    return 'en';
  }

  let language = localStorage.getItem(STORAGE_KEY);
  if (!MESSAGES[language]) {
    language = fromBrowser();
  }

  function t(key, params) {
    const text = MESSAGES[language][key] ?? MESSAGES.en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) =>
      params && params[name] !== undefined ? String(params[name]) : `{${name}}`);
  }

  function apply(root) {
    document.documentElement.lang = language;
    for (const element of (root || document).querySelectorAll('[data-i18n]')) {
      element.textContent = t(element.dataset.i18n);
    }
    for (const element of (root || document).querySelectorAll('[data-i18n-placeholder]')) {
      element.placeholder = t(element.dataset.i18nPlaceholder);
    }
  }

  function set(next) {
    if (!MESSAGES[next]) {
      return;
    }
    language = next;
    localStorage.setItem(STORAGE_KEY, next);
    apply();
    document.dispatchEvent(new CustomEvent('ferry:language', { detail: next }));
  }

  // Screens bring their own words: {en: {...}, 'zh-CN': {...}}.
  function add(messages) {
    for (const [tag, entries] of Object.entries(messages)) {
      if (MESSAGES[tag]) {
        Object.assign(MESSAGES[tag], entries);
      }
    }
  }

  window.FerryI18n = { t, apply, set, add, languages: LANGUAGES, current: () => language };
})();
