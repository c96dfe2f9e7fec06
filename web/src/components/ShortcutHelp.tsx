/** `?`: every keyboard shortcut on one card. */
import { Dialog } from "./Dialog";

const SHORTCUTS: [string, string][] = [
  ["Ctrl K  /  ⌘ K  /  /", "Search tasks and projects"],
  ["c", "Create a task"],
  ["j  /  k", "Next / previous card"],
  ["e  /  Enter", "Open the selected card"],
  ["Space, arrows, Space", "Pick up a focused card, move it, drop it"],
  ["Escape", "Close a dialog or the task panel; cancel a drag"],
  ["Ctrl Enter", "Send a comment"],
  ["?", "Show this help"],
];

export function ShortcutHelp({ onClose }: { onClose: () => void }) {
  return (
    <Dialog title="Keyboard shortcuts" onClose={onClose}>
      <dl className="shortcuts">
        {SHORTCUTS.map(([keys, what]) => (
          <div key={keys}>
            <dt>
              {keys.split("  ").map((k) => (
                <kbd key={k}>{k}</kbd>
              ))}
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
    </Dialog>
  );
}
