"""sdar.envs.alfworld: the real ALFWorld text games (optional extra ``sdar[alfworld]``).

`spec.SPEC` is the family; `games` finds games, splits and the evaluation panel;
`env.AlfworldEnv` plays one game through TextWorld's PDDL engine.
"""
