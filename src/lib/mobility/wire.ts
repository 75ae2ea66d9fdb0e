/**
 * The walks and path-loss parameters as they travel between edgectl's own processes (the agent's spec,
 * the plan input): checked on arrival, looser than hosts.yml's schema (no wording for people, no file to
 * read: a trace's points travel inside), and with output types that are the model's own.
 */
import { z } from 'zod';
import type { PathLoss, Trajectory } from '../inventory/index.js';

const point = z.tuple([z.number(), z.number()]);
const range = z.union([z.number().positive(), z.tuple([z.number().positive(), z.number().positive()])]);
const pauseRange = z.union([z.number().min(0), z.tuple([z.number().min(0), z.number().min(0)])]);
const seed = z.number().int().min(0).max(0xffff_ffff);

export const trajectoryWireSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('roundtrip'), from: point, to: point, speed: z.number().positive() }),
  z.object({
    type: z.literal('waypoints'),
    points: z.array(point).min(2),
    speed: z.number().positive(),
    pauseS: z.number().min(0).default(0),
    loop: z.boolean().default(false),
  }),
  z.object({
    type: z.literal('random-waypoint'),
    area: z.object({ from: point, to: point }),
    speed: range,
    pauseS: pauseRange.default(0),
    seed: seed.default(1),
    start: point.optional(),
  }),
  z.object({
    type: z.literal('trace'),
    file: z.string(),
    user: z.string(),
    loop: z.boolean().default(false),
    points: z.array(z.object({ t: z.number().min(0), x: z.number(), y: z.number() })).min(1),
  }),
]);

export const shadowingWireSchema = z.object({
  sigmaDb: z.number().positive(),
  correlationM: z.number().positive(),
  seed,
});

export const pathLossWireSchema = z.object({
  exponent: z.number(),
  referenceLossDb: z.number(),
  minRssiDbm: z.number(),
  shadowing: shadowingWireSchema.optional(),
});

// The wire's output is the model's type: a change to one that the other lacks fails to compile here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameTrajectory: Same<z.output<typeof trajectoryWireSchema>, Trajectory> = true;
const samePathLoss: Same<z.output<typeof pathLossWireSchema>, PathLoss> = true;
void sameTrajectory;
void samePathLoss;
