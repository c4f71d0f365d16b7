// The Connect panel's pure parts: the clients a snippet can be made for (the daemon's
// `client=` values), how a snippet is shown, and copying text with a fallback for pages
// where the async Clipboard API is missing or refused (plain http beyond loopback is not a
// secure context, so `navigator.clipboard` is undefined there).

export const CLIENTS = [
  { id: 'claude-desktop', label: 'Claude Desktop' },
  { id: 'claude-code', label: 'Claude Code' },
  { id: 'cursor', label: 'Cursor' },
  { id: 'vscode', label: 'VS Code' },
] as const;

export type ConnectClient = (typeof CLIENTS)[number]['id'];

/** The snippet as the client's file holds it: the API's `config`, indented by two. */
export function snippetText(config: unknown): string {
  return JSON.stringify(config, null, 2);
}

/** What copying needs from the browser; injectable so the fallback path can be tested. */
export interface CopyEnv {
  clipboard?: { writeText(text: string): Promise<void> } | undefined;
  /** The legacy way: select the text in a hidden textarea and `execCommand('copy')`. */
  execCopy?: (text: string) => boolean;
}

/** Copies `text`; true when one of the two ways worked. */
export async function copyText(text: string, env: CopyEnv = browserCopyEnv()): Promise<boolean> {
  if (env.clipboard) {
    try {
      await env.clipboard.writeText(text);
      return true;
    } catch {
      // Refused (no permission, document not focused): the legacy way may still work.
    }
  }
  try {
    return env.execCopy?.(text) ?? false;
  } catch {
    return false;
  }
}

function browserCopyEnv(): CopyEnv {
  return {
    clipboard: typeof navigator !== 'undefined' ? navigator.clipboard : undefined,
    execCopy: (text) => {
      const area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.style.position = 'fixed';
      area.style.opacity = '0';
      document.body.appendChild(area);
      area.select();
      try {
        return document.execCommand('copy');
      } finally {
        area.remove();
      }
    },
  };
}
