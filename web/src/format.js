export function previewOf(message) {
  if (!message) return '';
  if (message.deletedAt) return 'Message deleted';
  if (message.body) return message.body.length > 80 ? `${message.body.slice(0, 80)}…` : message.body;
  const n = message.attachments?.length ?? 0;
  if (n) return n === 1 ? `📎 ${message.attachments[0].name}` : `📎 ${n} attachments`;
  return '';
}

export function timeOf(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function sizeOf(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
