#!/bin/bash{{ login_flag }}
# htflow job script for profile {{ profile_name }}, rendered from templates/slurm_job.sh.
# Every inserted value was shell-quoted by htflow.cluster.render; values in #SBATCH lines were
# checked to hold only safe characters, because the shell never parses those lines.
#SBATCH --job-name={{ sbatch_job_name }}
{% if partition %}#SBATCH --partition={{ partition }}
{% endif %}{% if account %}#SBATCH --account={{ account }}
{% endif %}{% if qos %}#SBATCH --qos={{ qos }}
{% endif %}#SBATCH --nodes={{ nodes }}
#SBATCH --ntasks-per-node={{ tasks_per_node }}
#SBATCH --cpus-per-task={{ cpus_per_task }}
{% if memory_mb %}#SBATCH --mem={{ memory_mb }}
{% endif %}#SBATCH --time={{ time }}
#SBATCH --chdir={{ launch_dir }}
#SBATCH --output={{ launch_dir }}/slurm-%j.out
#SBATCH --error={{ launch_dir }}/slurm-%j.err
#SBATCH --no-requeue
{% for option in extra_sbatch %}#SBATCH {{ option }}
{% endfor %}
# --no-requeue: after a node failure SLURM would rerun this job under the same id behind the
# agent's back; the job ends NODE_FAIL instead and the agent requeues its launches.
set -euo pipefail

# The allocation ends this many seconds after the job started; run_pw stops pw.x cleanly
# before then (walltime_margin) so the next allocation can continue from the checkpoint.
export HTFLOW_WALLTIME_END=$(( ${SLURM_JOB_START_TIME:-$(date +%s)} + {{ walltime }} ))

{% if modules %}# Module scripts read unset variables, which `set -u` would make fatal.
set +u
{% for module in modules %}module load {{ module }}
{% endfor %}set -u
{% endif %}{% if pre_commands %}# Pre-commands from the cluster profile, verbatim.
{% for line in pre_commands %}{{ line | verbatim }}
{% endfor %}{% endif %}
# sbatch passed this job only an allowlisted environment (htflow.cluster.job_environment);
# a login shell or a module may still set these, and a compute job needs none of them.
unset{% for name in denied_variables %} {{ name }}{% endfor %}
export OPENBLAS_NUM_THREADS=1
export HTFLOW_OMP_NUM_THREADS={{ cpus_per_task }}
export HTFLOW_CLUSTER_PROFILE={{ profile_name }}
export HTFLOW_JOB_NAME={{ job_name }}
export HTFLOW_PW_CMD={{ pw_cmd }}
export HTFLOW_MPI_LAUNCHER={{ mpi_launcher }}
export HTFLOW_MPI_RANKS={{ ranks_per_calculation }}
export HTFLOW_MPI_EXTRA_ARGS={{ mpi_extra_args_json }}
export HTFLOW_WALLTIME_MARGIN={{ walltime_margin }}
export HTFLOW_IDLE_WAIT={{ idle_wait }}
{% if scratch_dir %}export HTFLOW_SCRATCH_DIR={{ scratch_dir | verbatim }}
{% endif %}{% if vasp_cmd %}export ATOMATE2_VASP_CMD={{ vasp_cmd }}
{% endif %}{% if vasp_gamma_cmd %}export ATOMATE2_VASP_GAMMA_CMD={{ vasp_gamma_cmd }}
{% endif %}{% if local_cluster %}# The local single-node SLURM runs jobs as root; OpenMPI refuses that unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
{% endif %}{% for name, value in environment %}export {{ name }}={{ value }}
{% endfor %}{% for line in inherit_checks %}{{ line | verbatim }}
{% endfor %}
cd {{ launch_dir }}
{{ command_line | verbatim }}
