/**
 * Docker's checkpoint calls (CRIU through the daemon's experimental API) and the container facts a
 * migration needs, on a dockerode container.
 */
import type Docker from 'dockerode';

/** Docker's checkpoint API (dockerode has it; its type definitions do not). */
interface CheckpointApi {
  createCheckpoint(opts: { CheckpointID: string; Exit: boolean }): Promise<unknown>;
  deleteCheckpoint(name: string): Promise<unknown>;
}

export function createCheckpoint(container: Docker.Container, name: string, exit: boolean): Promise<unknown> {
  return (container as unknown as CheckpointApi).createCheckpoint({ CheckpointID: name, Exit: exit });
}

export function deleteCheckpoint(container: Docker.Container, name: string): Promise<unknown> {
  return (container as unknown as CheckpointApi).deleteCheckpoint(name);
}

/** Starts a created (or stopped) container from its checkpoint `name` (in its checkpoints directory). */
export async function startFromCheckpoint(container: Docker.Container, name: string): Promise<void> {
  await container.start({ _query: { checkpoint: name }, _body: {} } as object);
}

/** The container's overlay upper directory (its writable layer), where overlay2 storage is used. */
export function upperDir(info: Docker.ContainerInspectInfo): string | undefined {
  return (info.GraphDriver.Data as unknown as Record<string, string> | undefined)?.['UpperDir'];
}
