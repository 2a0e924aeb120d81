/* A zip writer for the browser: files stored as they are (no compression), so a session folder can be sent as a
   bundle. Plain zip (no zip64): at most 65,535 files and 4 GiB in all. */
"use strict";

(function () {
  const MAX_FILES = 65535;
  const MAX_ZIP_BYTES = 0xffffffff;

  const CRC_TABLE = new Uint32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });

  /* CRC-32 (the zip and PNG polynomial) of a Uint8Array. */
  function crc32(bytes) {
    let crc = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  }

  /* MS-DOS time and date of a moment (two-second steps; 1980 at the earliest). */
  function dosTime(moment) {
    const year = Math.max(moment.getFullYear(), 1980);
    return {
      time: (moment.getHours() << 11) | (moment.getMinutes() << 5) | (moment.getSeconds() >> 1),
      date: ((year - 1980) << 9) | ((moment.getMonth() + 1) << 5) | moment.getDate(),
    };
  }

  function header(size, fill) {
    const bytes = new Uint8Array(size);
    fill(new DataView(bytes.buffer));
    return bytes;
  }

  /* A zip Blob of entries [{path, bytes: Uint8Array, modified: Date}], each stored; names in UTF-8.
     Throws an Error saying what is over which limit. */
  function storedZip(entries) {
    if (entries.length > MAX_FILES) throw new Error(`${entries.length} files, more than the ${MAX_FILES} a zip holds`);
    const encoder = new TextEncoder();
    const parts = [];
    const central = [];
    let offset = 0;
    for (const entry of entries) {
      const name = encoder.encode(entry.path);
      if (name.length > 0xffff) throw new Error(`${entry.path.slice(0, 80)}…: a name longer than a zip allows`);
      const crc = crc32(entry.bytes);
      const size = entry.bytes.length;
      const { time, date } = dosTime(entry.modified || new Date());
      if (offset + 30 + name.length + size > MAX_ZIP_BYTES) throw new Error("over the 4 GiB a zip holds");
      const local = header(30, (view) => {
        view.setUint32(0, 0x04034b50, true);
        view.setUint16(4, 20, true); // version needed: 2.0
        view.setUint16(6, 0x0800, true); // names in UTF-8
        view.setUint16(8, 0, true); // stored
        view.setUint16(10, time, true);
        view.setUint16(12, date, true);
        view.setUint32(14, crc, true);
        view.setUint32(18, size, true);
        view.setUint32(22, size, true);
        view.setUint16(26, name.length, true);
        view.setUint16(28, 0, true);
      });
      central.push(
        header(46, (view) => {
          view.setUint32(0, 0x02014b50, true);
          view.setUint16(4, 20, true);
          view.setUint16(6, 20, true);
          view.setUint16(8, 0x0800, true);
          view.setUint16(10, 0, true);
          view.setUint16(12, time, true);
          view.setUint16(14, date, true);
          view.setUint32(16, crc, true);
          view.setUint32(20, size, true);
          view.setUint32(24, size, true);
          view.setUint16(28, name.length, true);
          view.setUint32(42, offset, true);
        }),
        name
      );
      parts.push(local, name, entry.bytes);
      offset += 30 + name.length + size;
    }
    const centralBytes = central.reduce((sum, part) => sum + part.length, 0);
    if (offset + centralBytes + 22 > MAX_ZIP_BYTES) throw new Error("over the 4 GiB a zip holds");
    const end = header(22, (view) => {
      view.setUint32(0, 0x06054b50, true);
      view.setUint16(8, entries.length, true);
      view.setUint16(10, entries.length, true);
      view.setUint32(12, centralBytes, true);
      view.setUint32(16, offset, true);
    });
    return new Blob([...parts, ...central, end], { type: "application/zip" });
  }

  window.mixfarmZip = { crc32, storedZip };
})();
