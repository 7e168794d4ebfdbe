import type { Vocabulary } from "../platform/i18n.js";

/** What the backup and restore commands say (src/system/backup.ts). */
export type SystemWords = {
  backup_usage: { backup: string; restore: string; setting: string };
  backup_running: { file: string; detail: string };
  backup_target_not_empty: { dir: string };
  backup_target_inside: { dir: string; dataDir: string };
  backup_corrupt: { file: string; detail: string };
  backup_source_missing: { dir: string; file: string };
  backup_done: { dir: string; files: number; mb: number; seconds: number };
  backup_influx_note: { store: string; url: string; tool: string };
  backup_state_note: { store: string; url: string; tool: string };
  restore_not_backup: { dir: string; file: string };
  restore_target_not_empty: { dir: string };
  restore_corrupt: { file: string };
  restore_database_corrupt: { file: string; detail: string };
  restore_done: { dir: string; files: number; createdAt: number };
};
export const SYSTEM_WORDS: Vocabulary<SystemWords> = {
  backup_usage: {
    zh: (p) => `用法：${p.backup} <备份目录>（备份 ${p.setting}）；${p.restore} <备份目录>（恢复到空的 ${p.setting}）`,
    en: (p) => `Usage: ${p.backup} <backup dir> (backs up ${p.setting}); ${p.restore} <backup dir> (into an empty ${p.setting})`,
  },
  backup_running: {
    zh: (p) =>
      `服务正在运行（${p.file} 被占用：${p.detail}）。嵌入式数据库只允许一个进程打开，运行中复制的文件可能只含半个事务。请先停止服务，备份后再启动；设备会缓存读数并在重连后补发。`,
    en: (p) =>
      `The service is running (${p.file} is in use: ${p.detail}). An embedded database can be open in one process only, and a copy made while it writes may hold half a transaction. Stop the service, back up, start it again; devices keep their readings and send them when they reconnect.`,
  },
  backup_target_not_empty: {
    zh: (p) => `备份目录 ${p.dir} 不是空的；请指定一个新目录（每次备份一个目录）`,
    en: (p) => `The backup directory ${p.dir} is not empty; give a new one (one directory per backup)`,
  },
  backup_target_inside: {
    zh: (p) => `备份目录 ${p.dir} 与数据目录 ${p.dataDir} 互相包含；请把备份放在数据目录之外（最好在另一块磁盘上）`,
    en: (p) =>
      `The backup directory ${p.dir} and the data directory ${p.dataDir} lie one inside the other; put backups outside the data directory (best on another disk)`,
  },
  backup_corrupt: {
    zh: (p) => `数据库文件 ${p.file} 已损坏，无法打开（${p.detail}）；未做备份。请保留这个数据目录，用最近一次完好的备份恢复到新的数据目录`,
    en: (p) =>
      `The database file ${p.file} is damaged and cannot be opened (${p.detail}); nothing was backed up. Keep this data directory, and restore the newest good backup into a new data directory`,
  },
  backup_source_missing: {
    zh: (p) => `数据目录 ${p.dir} 中没有状态数据库 ${p.file}；请检查数据目录的设置`,
    en: (p) => `The data directory ${p.dir} holds no state database ${p.file}; check the data directory setting`,
  },
  backup_done: {
    zh: (p, f) => `已备份到 ${p.dir}：${p.files} 个文件，${f.num(p.mb)} MB，用时 ${f.num(p.seconds)} 秒`,
    en: (p, f) => `Backed up to ${p.dir}: ${p.files} files, ${f.num(p.mb)} MB, in ${f.num(p.seconds)} s`,
  },
  backup_influx_note: {
    zh: (p) => `读数存放在 ${p.store}（${p.url}），不在本备份中：请用 ${p.tool} 另行备份`,
    en: (p) => `Readings are kept in ${p.store} (${p.url}), not in this backup: back them up with ${p.tool}`,
  },
  backup_state_note: {
    zh: (p) => `设备、账号、告警、申报等状态存放在 ${p.store}（${p.url}），不在本备份中：请在同一时间用 ${p.tool} 另行备份`,
    en: (p) =>
      `Devices, accounts, alerts, claims and the rest of the state are kept in ${p.store} (${p.url}), not in this backup: back them up at the same time with ${p.tool}`,
  },
  restore_not_backup: {
    zh: (p) => `${p.dir} 不是完整的备份目录（没有清单 ${p.file}）`,
    en: (p) => `${p.dir} is not a complete backup (it has no manifest ${p.file})`,
  },
  restore_target_not_empty: {
    zh: (p) => `数据目录 ${p.dir} 不是空的；恢复只写入空目录（请换一个数据目录，或先移走现有数据）`,
    en: (p) =>
      `The data directory ${p.dir} is not empty; a restore writes only into an empty one (choose another data directory, or move the data away first)`,
  },
  restore_corrupt: {
    zh: (p) => `备份中的文件 ${p.file} 与清单不符（大小或校验和不同）；未恢复任何内容`,
    en: (p) => `The backup's file ${p.file} does not match its manifest (size or checksum); nothing was restored`,
  },
  restore_database_corrupt: {
    zh: (p) => `备份中的数据库文件 ${p.file} 已损坏，无法打开（${p.detail}）；未恢复任何内容，请换一个备份`,
    en: (p) => `The backup's database file ${p.file} is damaged and cannot be opened (${p.detail}); nothing was restored: use another backup`,
  },
  restore_done: {
    zh: (p, f) => `已将 ${f.time(p.createdAt)} 的备份恢复到 ${p.dir}（${p.files} 个文件），可以启动服务`,
    en: (p, f) => `Restored the backup of ${f.time(p.createdAt)} into ${p.dir} (${p.files} files); the service can start`,
  },
};
