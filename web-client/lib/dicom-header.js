// @ts-check
// Ferry web client: reads the few attributes of a DICOM file's header that
// an upload needs before sending it (which instance, study and patient it
// is), from the file's first bytes. A file this cannot read is still sent:
// the server is the one that decides, and says why it refuses.

// Enough for the header of any real instance; pixel data comes last.
const HEAD_BYTES = 256 * 1024;
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const WANTED = {
  '00080005': 'specific_character_set',
  '00080018': 'sop_instance_uid',
  '00080020': 'study_date',
  '00080060': 'modality',
  '00081030': 'study_description',
  '00100010': 'patient_name',
  '00100020': 'patient_id',
  '0020000D': 'study_instance_uid',
  '0020000E': 'series_instance_uid',
};
const LAST_WANTED = 0x0020000e;
// Names and IDs in the character set the file declares (a Chinese name is
// GB18030 or UTF-8, not Latin-1); the browser's decoder names for DICOM's.
const CHARSETS = { 'ISO_IR 192': 'utf-8', GB18030: 'gb18030', GBK: 'gbk', 'ISO_IR 100': 'latin1' };
const DECODED = new Set(['patient_name', 'patient_id', 'study_description']);
const UNDEFINED = 0xffffffff;

class Reader {
  constructor(bytes, little, explicit) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.bytes = bytes;
    this.little = little;
    this.explicit = explicit;
    this.at = 0;
  }

  more(n) { return this.at + n <= this.bytes.length; }
  u16() { const v = this.view.getUint16(this.at, this.little); this.at += 2; return v; }
  u32() { const v = this.view.getUint32(this.at, this.little); this.at += 4; return v; }

  // One element's tag, VR (explicit only) and length; null at the end of the bytes read.
  element() {
    if (!this.more(8)) return null;
    const group = this.u16();
    const number = this.u16();
    const tag = (group * 0x10000) + number;
    let vr = null;
    let length;
    if (group === 0xfffe) {
      length = this.u32();
    } else if (this.explicit) {
      vr = String.fromCharCode(this.bytes[this.at], this.bytes[this.at + 1]);
      this.at += 2;
      if (LONG_VRS.has(vr)) {
        if (!this.more(6)) return null;
        this.at += 2;
        length = this.u32();
      } else {
        length = this.u16();
      }
    } else {
      length = this.u32();
    }
    return { tag, vr, length };
  }

  text(length, charset = 'latin1') {
    const slice = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    let decoder;
    try { decoder = new TextDecoder(charset); } catch (_) { decoder = new TextDecoder('latin1'); }
    return decoder.decode(slice).replace(/[\0 ]+$/, '').trim();
  }

  // Skips the items of a sequence of undefined length, down to its delimiter.
  skipUndefined() {
    for (;;) {
      const item = this.element();
      if (!item) throw new Error('truncated');
      if (item.tag === 0xfffee0dd) return;
      if (item.tag !== 0xfffee000) throw new Error('not an item');
      if (item.length !== UNDEFINED) {
        this.at += item.length;
        continue;
      }
      for (;;) {
        const inner = this.element();
        if (!inner) throw new Error('truncated');
        if (inner.tag === 0xfffee00d) break;
        if (inner.length === UNDEFINED) this.skipUndefined();
        else this.at += inner.length;
      }
    }
  }
}

function hex(tag) {
  return tag.toString(16).toUpperCase().padStart(8, '0');
}

/**
 * The attributes, or null when the bytes do not start as a DICOM Part 10 file.
 * @param {Uint8Array} bytes
 * @returns {{[attribute: string]: string} | null}
 */
function parse(bytes) {
  if (bytes.length < 140 || new TextDecoder('latin1').decode(bytes.subarray(128, 132)) !== 'DICM') {
    return null;
  }
  /** @type {{[attribute: string]: string}} */
  const found = {};
  const meta = new Reader(bytes, true, true);
  meta.at = 132;
  let syntax = '';
  for (;;) {
    const start = meta.at;
    const element = meta.element();
    if (!element || element.tag >>> 16 !== 0x0002) {
      meta.at = start;
      break;
    }
    if (element.tag === 0x00020003) found.sop_instance_uid = meta.text(element.length);
    else if (element.tag === 0x00020010) syntax = meta.text(element.length);
    else meta.at += element.length;
  }
  found.transfer_syntax = syntax;
  // Deflated data sets cannot be read without inflating; the meta group
  // already named the instance.
  if (syntax === '1.2.840.10008.1.2.1.99') return found;
  const data = new Reader(bytes, syntax !== '1.2.840.10008.1.2.2', syntax !== '1.2.840.10008.1.2');
  data.at = meta.at;
  try {
    for (;;) {
      const element = data.element();
      if (!element || element.tag > LAST_WANTED) break;
      const key = WANTED[hex(element.tag)];
      if (element.length === UNDEFINED) {
        data.skipUndefined();
      } else if (key) {
        // The last of several character sets is the one of the text groups.
        const declared = (found.specific_character_set || '').split('\\').pop().trim();
        found[key] = data.text(element.length, DECODED.has(key) ? CHARSETS[declared] || 'latin1' : 'latin1');
      } else {
        data.at += element.length;
      }
    }
  } catch (_) {
    // What was read before the damage is still worth showing.
  }
  return found;
}

/**
 * The attributes an upload needs from a file's header (see WANTED), or
 * null when it does not start as a DICOM Part 10 file.
 * @param {Blob} file
 * @returns {Promise<{[attribute: string]: string} | null>}
 */
async function read(file) {
  const bytes = new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
  return parse(bytes);
}

export { read, parse };
