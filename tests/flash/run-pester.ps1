#!/usr/bin/env pwsh
# Runs the Pester tests of tests/flash with the Pester module restored from NuGet (tests/flash/PesterRestore.csproj),
# writes NUnit XML and prints "pester: N passed, M failed". Exit 0 only when every test passed.
# Usage (repository root): dotnet tool restore && dotnet restore tests/flash/PesterRestore.csproj && dotnet pwsh -NoProfile -File tests/flash/run-pester.ps1 [-ResultPath TestResults/pester.xml]
param([string]$ResultPath = (Join-Path $PSScriptRoot '..' '..' 'TestResults' 'pester' 'pester.xml'))

$ErrorActionPreference = 'Stop'
$version = '6.2.0'
$root = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path $HOME '.nuget' 'packages' }
$manifest = Join-Path $root 'pester' $version 'tools' 'Pester.psd1'
if (-not (Test-Path -LiteralPath $manifest)) {
    Write-Error "Pester $version not found at ${manifest}: run 'dotnet restore tests/flash/PesterRestore.csproj' first." -ErrorAction Continue
    exit 1
}
Import-Module $manifest -Force

$config = New-PesterConfiguration
$config.Run.Path = $PSScriptRoot
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = [IO.Path]::GetFullPath($ResultPath)
$result = Invoke-Pester -Configuration $config

$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
Write-Host "pester: $($result.PassedCount) passed, $failed failed, $($result.SkippedCount) skipped"
if ($result.TotalCount -eq 0 -or $failed -gt 0) { exit 1 }
exit 0
