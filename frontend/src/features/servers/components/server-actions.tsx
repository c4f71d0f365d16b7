// Start / stop / restart / delete with a pending state and the daemon's error shown.
import { useState } from 'react';
import { Button } from '@/components/ui';
import { ConfirmDialog } from '@/components/dialog';
import { errorMessage, type ServerView } from '@/lib/api';
import { navigate } from '@/app/router';
import { useDeleteServer, useServerAction, type ServerAction } from '../api';

export function canStart(s: ServerView) {
  return s.status === 'stopped' || s.status === 'failed' || s.status === 'backoff';
}
export function canStop(s: ServerView) {
  return s.status !== 'stopped' && s.status !== 'failed';
}

export function ServerActions({ server, size = 'sm', afterDelete }: { server: ServerView; size?: 'sm' | 'md'; afterDelete?: string }) {
  const action = useServerAction();
  const remove = useDeleteServer();
  const [confirm, setConfirm] = useState(false);
  const pendingAction = action.isPending ? action.variables.action : null;
  const run = (a: ServerAction) => {
    remove.reset();
    action.mutate({ id: server.id, action: a });
  };
  const error = action.error ?? remove.error;
  return (
    <div className="flex flex-col items-end gap-1">
      <div className="flex flex-wrap justify-end gap-1.5">
        {canStart(server) ? (
          <Button size={size} variant="secondary" onClick={() => run('start')} pending={pendingAction === 'start'} aria-label={`Start ${server.name}`}>
            ▶ Start
          </Button>
        ) : (
          <Button
            size={size}
            onClick={() => run('stop')}
            pending={pendingAction === 'stop'}
            disabled={!canStop(server) || server.status === 'stopping'}
            aria-label={`Stop ${server.name}`}
          >
            ■ Stop
          </Button>
        )}
        <Button size={size} onClick={() => run('restart')} pending={pendingAction === 'restart'} disabled={server.status === 'stopping'} aria-label={`Restart ${server.name}`}>
          ↻ Restart
        </Button>
        <Button size={size} variant="danger" onClick={() => setConfirm(true)} aria-label={`Delete ${server.name}`}>
          Delete
        </Button>
      </div>
      {error && (
        <p role="alert" className="max-w-xs text-right text-xs text-red-600 dark:text-red-400" data-testid="action-error">
          {errorMessage(error)}
        </p>
      )}
      <ConfirmDialog
        open={confirm}
        title={`Delete ${server.name}?`}
        confirmLabel="Delete server"
        pending={remove.isPending}
        onClose={() => setConfirm(false)}
        onConfirm={() =>
          remove.mutate(server.id, {
            onSuccess: () => {
              setConfirm(false);
              if (afterDelete) navigate(afterDelete);
            },
            onError: () => setConfirm(false),
          })
        }
      >
        {server.status !== 'stopped' && server.status !== 'failed' ? 'It will be stopped first. ' : ''}
        Its definition, logs and health history are deleted. This cannot be undone.
      </ConfirmDialog>
    </div>
  );
}
