#!/usr/bin/env pwsh
#Requires -Version 7.0

<#
.SYNOPSIS
    Turns a bare ESP32 into a SensorNode that reports to your MQTT broker: nanoFramework firmware, the
    SensorNode application and the node's configuration, in one command.

.DESCRIPTION
    Steps (each one prints the external command it runs; -WhatIf prints them all and runs nothing):

      1. prerequisites  - checks for the .NET SDK (`dotnet`) and installs the `nanoff` flasher as a .NET global
                          tool when it is missing (-UpdateNanoff updates it).
      2. application    - uses -ImagePath (a prebuilt SensorNode.Firmware.Device.bin) or builds the device project
                          with MSBuild and the nanoFramework project system (Visual Studio 2022 + the .NET
                          nanoFramework extension, Windows). Where those are missing it says exactly what to install.
      3. firmware       - `nanoff --update --target <Target> --serialport <Port>` (+ `--masserase` with -EraseFlash).
      4. deploy         - `nanoff --target <Target> --serialport <Port> --deploy --image <bin>`.
      5. certificate    - with -Tls -CaCertificate: `nanoff --serialport <Port> --networkdeployment <json>` stores the
                          CA certificate in the device's certificate store (the firmware's TLS connection uses it).
      6. configuration  - writes the node's configuration file (the exact format of firmware/README.md, parsed on the
                          device by the firmware core's ConfigParser) and puts it at I:\sensornode.conf with
                          `nanoff --serialport <Port> --filedeployment <json> --reset`, which also resets the board.
                          The Wi-Fi credentials go into that file because the firmware connects with the SSID and
                          password from it (it does not read nanoff's network-deployment Wi-Fi profile).
      7. wait           - with -WaitForNode: subscribes with mosquitto_sub (the SensorNode broker has no subscribe
                          command) to sensor/status/<Room>, sensor/temperature/<Room> and sensor/humidity/<Room>
                          and reports when the node's fresh `online` and its first reading arrive.

    Secrets: -WifiPassword and -MqttPassword are SecureStrings; when they are not given, the script prompts for them
    without echo (press Enter for none). They are never printed, logged or put on a command line, except that
    -WaitForNode passes the MQTT password to mosquitto_sub with -P (shown as *** here; visible to other local users
    in the process list while it waits). The configuration file holding them is written to a private temporary
    folder and deleted when the script ends.

    If a nanoff step fails the script stops and names the step, nanoff's exit code and what to try: hold the BOOT
    button while nanoff connects, pick another port (-ListPorts), lower the speed (-Baud 115200), use a data (not
    charge-only) USB cable, install the CP210x/CH340 USB-serial driver, close serial monitors.

    Exit codes: 0 done, 1 a step failed, 2 invalid parameters.

.PARAMETER ListPorts
    Lists the serial ports of this computer (and runs `nanoff --listports` when nanoff is installed), then exits.
    Example: ./flash.ps1 -ListPorts

.PARAMETER SerialPort
    The ESP32's serial port: COM3 on Windows, /dev/ttyUSB0 or /dev/ttyACM0 on Linux, /dev/cu.usbserial-0001 or
    /dev/cu.SLAB_USBtoUART on macOS. See -ListPorts.
    Example: -SerialPort COM3

.PARAMETER Target
    nanoFramework firmware image for nanoff --target. Default ESP32_PSRAM_REV0, which runs on every classic ESP32
    (with or without PSRAM). Others: ESP32_REV0, ESP32_REV3, ESP32_PSRAM_REV3, ESP32_PICO, ... (nanoff --listtargets).
    Example: -Target ESP32_REV3

.PARAMETER WifiSsid
    The Wi-Fi network (1 to 32 characters, 2.4 GHz: the ESP32 has no 5 GHz radio). Required.
    Example: -WifiSsid HomeNet

.PARAMETER WifiPassword
    The Wi-Fi password as a SecureString (8 to 63 characters). When omitted the script prompts for it without
    echo; use -OpenNetwork for a network without password.
    Example: -WifiPassword (Read-Host -AsSecureString 'Wi-Fi password')

.PARAMETER OpenNetwork
    The Wi-Fi network has no password: do not prompt for one.
    Example: -OpenNetwork

.PARAMETER MqttHost
    Host name or IP address of the MQTT broker as the node sees it (not `localhost`). Required.
    Example: -MqttHost 192.168.1.10

.PARAMETER MqttPort
    Broker port, 1 to 65535. Default 1883, or 8883 with -Tls.
    Example: -MqttPort 1884

.PARAMETER Tls
    Connect to the broker with TLS 1.2 (mqtt_tls=true).
    Example: -Tls -CaCertificate ./ca.crt

.PARAMETER CaCertificate
    PEM file of the CA that signed the broker's certificate; stored on the device with nanoff's network deployment.
    Needs -Tls.
    Example: -CaCertificate ./certs/ca.pem

.PARAMETER MqttUser
    MQTT user name (at most 128 characters). Default: none.
    Example: -MqttUser kitchen-node

.PARAMETER MqttPassword
    MQTT password as a SecureString (at most 128 characters); needs -MqttUser. When -MqttUser is given without it,
    the script prompts for it without echo (Enter = no password).
    Example: -MqttUser node -MqttPassword (Read-Host -AsSecureString 'MQTT password')

.PARAMETER Room
    The room: exactly one MQTT topic level (sensor/temperature/<Room>): 1 to 64 characters, no '/', '+', '#', no
    control characters, no leading or trailing space. Required.
    Example: -Room kitchen

.PARAMETER NodeId
    MQTT client id and Home Assistant id prefix, [a-zA-Z0-9_-], at most 48 characters. Default: sensornode_<room>.
    Example: -NodeId kitchen_window

.PARAMETER SensorModel
    DHT22 (= AM2302, default) or DHT11.
    Example: -SensorModel DHT11

.PARAMETER SensorEchoPin
    GPIO that receives the DHT signal (RMT). Default 26. 0-39, not 6-11 (flash) nor the boot-strapping pins
    0, 2, 5, 12, 15. Wire it together with -SensorTriggerPin to the sensor's data line (see hardware/README.md).
    Example: -SensorEchoPin 32

.PARAMETER SensorTriggerPin
    GPIO that drives the DHT start pulse, joined to the echo pin and the data line. Default 27. Same rules as the
    echo pin, and not the input-only GPIO 34-39; must differ from the echo pin.
    Example: -SensorTriggerPin 33

.PARAMETER LedPin
    Status LED GPIO, -1 for none. Default 2 (the on-board LED of most DevKitC boards). 0-33, not 6-11, not a sensor pin.
    Example: -LedPin -1

.PARAMETER LedInverted
    The LED is wired to 3.3 V and lights when the pin is low.
    Example: -LedPin 4 -LedInverted

.PARAMETER ReadIntervalSeconds
    Seconds between sensor reads, 1 to 3600 and at least 2 for DHT22 (1 for DHT11). Default 10.
    Example: -ReadIntervalSeconds 30

.PARAMETER HeartbeatSeconds
    Republish unchanged values this often, 10 to 86400 seconds, not shorter than the read interval. Default 300.
    Example: -HeartbeatSeconds 600

.PARAMETER ImagePath
    A prebuilt application image (SensorNode.Firmware.Device.bin from Visual Studio or CI) instead of building.
    Example: -ImagePath ./SensorNode.Firmware.Device.bin

.PARAMETER Configuration
    Build configuration of the device project when the script builds it. Default Release.
    Example: -Configuration Debug

.PARAMETER SkipFirmware
    Do not flash the nanoFramework firmware (the board already runs a matching nanoFramework).
    Example: -SkipFirmware

.PARAMETER EraseFlash
    Erase the whole flash before flashing the firmware (nanoff --masserase): wipes stored files and settings.
    Not with -SkipFirmware or -ConfigOnly.
    Example: -EraseFlash

.PARAMETER ConfigOnly
    Only write the configuration (and CA certificate) and reset the board: no firmware, no application.
    Example: -ConfigOnly

.PARAMETER Baud
    Serial speed for flashing and deploying (nanoff --baud; nanoff's default is 1500000). Lower it (115200) when
    flashing fails with long or poor USB cables.
    Example: -Baud 115200

.PARAMETER UpdateNanoff
    Run `dotnet tool update --global nanoff` before flashing, even when nanoff is installed.
    Example: -UpdateNanoff

.PARAMETER WaitForNode
    After the reset, wait (with mosquitto_sub) until the node publishes `online` and its first reading.
    Example: -WaitForNode -WaitTimeoutSeconds 180

.PARAMETER BrokerHost
    Broker address as this computer reaches it, for -WaitForNode. Default: -MqttHost.
    Example: -BrokerHost localhost

.PARAMETER WaitTimeoutSeconds
    How long -WaitForNode waits, 10 to 3600 seconds. Default 120.
    Example: -WaitTimeoutSeconds 300

.EXAMPLE
    ./flash.ps1 -ListPorts

    Lists serial ports to find the ESP32's.

.EXAMPLE
    ./flash.ps1 -SerialPort COM3 -WifiSsid HomeNet -MqttHost 192.168.1.10 -Room kitchen

    Flashes firmware, application and configuration; prompts for the Wi-Fi password.

.EXAMPLE
    ./flash.ps1 -SerialPort /dev/ttyUSB0 -WifiSsid HomeNet -WifiPassword $pw -MqttHost broker.lan -Room kitchen -ImagePath ./SensorNode.Firmware.Device.bin -WaitForNode

    Linux/macOS with a prebuilt image; waits until the node reports.

.EXAMPLE
    ./flash.ps1 -SerialPort COM3 -WifiSsid HomeNet -MqttHost broker.lan -MqttUser kitchen -Tls -CaCertificate ./ca.pem -Room kitchen -SensorModel DHT11 -ReadIntervalSeconds 30 -WhatIf

    Shows every command it would run for a TLS broker with a user name, a DHT11 and a 30 s interval; runs nothing.

.EXAMPLE
    ./flash.ps1 -SerialPort COM3 -WifiSsid NewNet -MqttHost 192.168.1.10 -Room kitchen -ConfigOnly

    Moves a node to another Wi-Fi: writes only the configuration and resets the board.

.NOTES
    Needs PowerShell 7 and the .NET SDK (8 or newer). Wiring and parts: hardware/README.md. Configuration keys:
    firmware/README.md. nanoff options: nanoFirmwareFlasher 2.5.x.

.LINK
    hardware/README.md
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'Flash')]
param(
    [Parameter(ParameterSetName = 'ListPorts', Mandatory)]
    [switch]$ListPorts,

    [Parameter(ParameterSetName = 'Flash', Mandatory)]
    [ValidatePattern('^(COM[0-9]+|/dev/[^\s]+)$')]
    [string]$SerialPort,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidatePattern('^[A-Za-z0-9_]+$')]
    [string]$Target = 'ESP32_PSRAM_REV0',

    [Parameter(ParameterSetName = 'Flash', Mandatory)]
    [ValidateLength(1, 32)]
    [ValidateScript({ $_ -notmatch '[\x00-\x1F\x7F]' }, ErrorMessage = 'The Wi-Fi SSID must not contain control characters.')]
    [string]$WifiSsid,

    [Parameter(ParameterSetName = 'Flash')]
    [securestring]$WifiPassword,

    [Parameter(ParameterSetName = 'Flash')]
    [switch]$OpenNetwork,

    [Parameter(ParameterSetName = 'Flash', Mandatory)]
    [ValidatePattern('^[^\s]{1,253}$')]
    [string]$MqttHost,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateRange(1, 65535)]
    [int]$MqttPort,

    [Parameter(ParameterSetName = 'Flash')]
    [switch]$Tls,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf }, ErrorMessage = "CA certificate file '{0}' not found.")]
    [string]$CaCertificate,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateLength(1, 128)]
    [ValidateScript({ $_ -notmatch '[\x00-\x1F\x7F]' }, ErrorMessage = 'The MQTT user must not contain control characters.')]
    [string]$MqttUser,

    [Parameter(ParameterSetName = 'Flash')]
    [securestring]$MqttPassword,

    [Parameter(ParameterSetName = 'Flash', Mandatory)]
    [ValidateScript({
            $_.Length -ge 1 -and $_.Length -le 64 -and $_ -notmatch '[/+#\x00-\x1F\x7F]' -and
            $_ -notmatch '^\s|\s$' -and $_ -notmatch '[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]'
        }, ErrorMessage = "Room '{0}' must be exactly one MQTT topic level: 1 to 64 characters, no '/', '+', '#', no control characters, no leading or trailing space.")]
    [string]$Room,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidatePattern('^[a-zA-Z0-9_-]{1,48}$')]
    [string]$NodeId,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateSet('DHT22', 'AM2302', 'DHT11')]
    [string]$SensorModel = 'DHT22',

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateScript({ $_ -ge 0 -and $_ -le 39 -and ($_ -lt 6 -or $_ -gt 11) -and $_ -notin 0, 2, 5, 12, 15 },
        ErrorMessage = 'GPIO {0} cannot be a sensor pin: use 0-39, not 6-11 (flash chip) nor the boot-strapping pins 0, 2, 5, 12, 15 (e.g. 25, 26, 27, 32, 33).')]
    [int]$SensorEchoPin = 26,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateScript({ $_ -ge 0 -and $_ -le 33 -and ($_ -lt 6 -or $_ -gt 11) -and $_ -notin 0, 2, 5, 12, 15 },
        ErrorMessage = 'GPIO {0} cannot drive the sensor: use 0-33, not 6-11 (flash chip), not the input-only 34-39, nor the boot-strapping pins 0, 2, 5, 12, 15 (e.g. 25, 26, 27, 32, 33).')]
    [int]$SensorTriggerPin = 27,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateScript({ $_ -ge -1 -and $_ -le 33 -and ($_ -lt 6 -or $_ -gt 11) },
        ErrorMessage = 'LED GPIO {0} is not usable: -1 (none) or an output GPIO 0-33, not 6-11 (flash chip).')]
    [int]$LedPin = 2,

    [Parameter(ParameterSetName = 'Flash')]
    [switch]$LedInverted,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateRange(1, 3600)]
    [int]$ReadIntervalSeconds = 10,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateRange(10, 86400)]
    [int]$HeartbeatSeconds = 300,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf }, ErrorMessage = "Application image '{0}' not found.")]
    [string]$ImagePath,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateSet('Release', 'Debug')]
    [string]$Configuration = 'Release',

    [Parameter(ParameterSetName = 'Flash')]
    [switch]$SkipFirmware,

    [Parameter(ParameterSetName = 'Flash')]
    [switch]$EraseFlash,

    [Parameter(ParameterSetName = 'Flash')]
    [switch]$ConfigOnly,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateRange(9600, 3000000)]
    [int]$Baud,

    [Parameter(ParameterSetName = 'Flash')]
    [switch]$UpdateNanoff,

    [Parameter(ParameterSetName = 'Flash')]
    [switch]$WaitForNode,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidatePattern('^[^\s]{1,253}$')]
    [string]$BrokerHost,

    [Parameter(ParameterSetName = 'Flash')]
    [ValidateRange(10, 3600)]
    [int]$WaitTimeoutSeconds = 120
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$script:Cmdlet = $PSCmdlet
$script:RepoRoot = $PSScriptRoot
$script:DeviceConfigPath = 'I:\sensornode.conf'
$script:DeviceProject = Join-Path $PSScriptRoot 'firmware' 'SensorNode.Firmware.Device' 'SensorNode.Firmware.Device.nfproj'

# A failure of one step: the message says which step and what to try.
class FlashStepException : System.Exception {
    FlashStepException([string]$message) : base($message) {}
}

# ---------------------------------------------------------------------------------------------------- helpers

function Format-CommandLine {
    # The command as it would be typed; arguments listed in $Redact are shown as ***.
    param([string]$FilePath, [string[]]$Arguments, [int[]]$Redact = @())
    $parts = @($FilePath)
    for ($i = 0; $i -lt $Arguments.Count; $i++) {
        $a = if ($i -in $Redact) { '***' } else { $Arguments[$i] }
        if ($a -eq '' -or $a -match '[\s"''`$]') { $a = '"' + ($a -replace '"', '\"') + '"' }
        $parts += $a
    }
    $parts -join ' '
}

function Invoke-External {
    # Runs one external command for a step, or only prints it under -WhatIf. Throws FlashStepException on failure.
    param([string]$Step, [string]$FilePath, [string[]]$Arguments, [string[]]$Hints = @())
    $line = Format-CommandLine $FilePath $Arguments
    if (-not $script:Cmdlet.ShouldProcess($line, $Step)) { return }
    Write-Host "> $line"
    try {
        & $FilePath @Arguments 2>&1 | ForEach-Object { Write-Host "  $_" }
        $code = $LASTEXITCODE
    } catch [System.Management.Automation.CommandNotFoundException] {
        throw [FlashStepException]::new("step '$Step' failed: '$FilePath' was not found.")
    }
    if ($code -ne 0) {
        $text = "step '$Step' failed: '$FilePath' exited with code $code."
        if ($Hints.Count -gt 0) {
            $text += [Environment]::NewLine + 'What to try:' + [Environment]::NewLine + ((@($Hints) | ForEach-Object { "  - $_" }) -join [Environment]::NewLine)
        }
        throw [FlashStepException]::new($text)
    }
}

function Get-NanoffHints {
    param([string]$Step)
    $hints = @(
        "Hold the BOOT button while nanoff connects ('Connecting...'), release it when writing starts; some boards need it (hardware/README.md).",
        'Check the port: run ./flash.ps1 -ListPorts, unplug and replug the board, pick the port that appears.',
        'Lower the serial speed: add -Baud 115200 (long or thin USB cables).',
        'Use a data USB cable (not charge-only), install the CP210x or CH340 USB-serial driver, and close any serial monitor using the port.'
    )
    if ($Step -in 'write configuration', 'store CA certificate') {
        $hints = @('The board must run nanoFramework already: flash without -ConfigOnly/-SkipFirmware first.') + $hints
    }
    if ($Step -eq 'deploy application') {
        $hints = @('An assembly/version mismatch means firmware and application packages differ: flash the firmware again (no -SkipFirmware).') + $hints
    }
    $hints
}

function ConvertTo-PlainText {
    param([securestring]$Secure)
    if ($null -eq $Secure) { return '' }
    [System.Net.NetworkCredential]::new('', $Secure).Password
}

function Format-ConfigValue {
    # A value as the firmware's parser reads it back unchanged: quoted when it has outer spaces or outer quotes.
    param([string]$Value)
    if ($Value -match '[\r\n]') { throw [System.ArgumentException]::new('configuration values cannot contain line breaks') }
    if ($Value -ne $Value.Trim() -or ($Value.Length -ge 2 -and $Value.StartsWith('"') -and $Value.EndsWith('"'))) {
        return '"' + $Value + '"'
    }
    $Value
}

# ------------------------------------------------------------------------------------------------------- steps

function Show-SerialPort {
    # -ListPorts: what the OS reports, plus nanoff's own list when nanoff is installed.
    $ports = @()
    try { $ports = [System.IO.Ports.SerialPort]::GetPortNames() } catch { $ports = @() }
    if (-not $IsWindows) {
        $ports += Get-ChildItem -Path '/dev' -ErrorAction SilentlyContinue |
            Where-Object { $_.Name -match '^(ttyUSB|ttyACM|cu\.usbserial|cu\.SLAB_USBtoUART|cu\.wchusbserial|cu\.usbmodem)' } |
            ForEach-Object FullName
    }
    $ports = @($ports | Sort-Object -Unique)
    if ($ports.Count -eq 0) {
        Write-Host 'No serial ports found. Plug the ESP32 in with a data USB cable; install the CP210x or CH340 driver if nothing appears (hardware/README.md).'
    } else {
        Write-Host 'Serial ports:'
        $ports | ForEach-Object { Write-Host "  $_" }
    }
    if (Get-Command nanoff -CommandType Application -ErrorAction SilentlyContinue) {
        Invoke-External -Step 'list ports' -FilePath 'nanoff' -Arguments @('--listports')
    }
}

function Test-Prerequisite {
    # .NET SDK, then nanoff (installed as a global tool when missing; updated with -UpdateNanoff).
    param([switch]$Update)
    if (-not (Get-Command dotnet -CommandType Application -ErrorAction SilentlyContinue)) {
        throw [FlashStepException]::new("step 'prerequisites' failed: the .NET SDK (dotnet) is not installed. Install the .NET 8 SDK or newer from https://dotnet.microsoft.com/download (Windows: winget install Microsoft.DotNet.SDK.8; macOS: brew install dotnet; Linux: your distribution's dotnet-sdk-8.0 package), then run this script again.")
    }
    $toolsDir = Join-Path $HOME '.dotnet' 'tools'
    $hasNanoff = [bool](Get-Command nanoff -CommandType Application -ErrorAction SilentlyContinue)
    $hint = @('Check the internet connection (nanoff comes from NuGet) and that `dotnet tool list --global` works.')
    if (-not $hasNanoff) {
        Invoke-External -Step 'install nanoff' -FilePath 'dotnet' -Arguments @('tool', 'install', '--global', 'nanoff') -Hints $hint
    } elseif ($Update) {
        Invoke-External -Step 'update nanoff' -FilePath 'dotnet' -Arguments @('tool', 'update', '--global', 'nanoff') -Hints $hint
    }
    if (-not $hasNanoff -and ($env:PATH -split [IO.Path]::PathSeparator) -notcontains $toolsDir) {
        # A fresh global tool lives in ~/.dotnet/tools, which a new shell may not have on PATH yet.
        $env:PATH = $toolsDir + [IO.Path]::PathSeparator + $env:PATH
    }
    if (-not $hasNanoff -and -not $WhatIfPreference -and -not (Get-Command nanoff -CommandType Application -ErrorAction SilentlyContinue)) {
        throw [FlashStepException]::new("step 'install nanoff' failed: nanoff was installed but is not on PATH. Add '$toolsDir' to PATH (or open a new terminal) and run this script again.")
    }
}

function Find-MSBuildWithNanoFramework {
    # MSBuild from Visual Studio (vswhere) with the nanoFramework project system, or $null.
    if (-not $IsWindows) { return $null }
    $vswhere = Join-Path ${env:ProgramFiles(x86)} 'Microsoft Visual Studio' 'Installer' 'vswhere.exe'
    if (-not (Test-Path -LiteralPath $vswhere)) { return $null }
    $install = & $vswhere -latest -products * -requires Microsoft.Component.MSBuild -property installationPath 2>$null | Select-Object -First 1
    if (-not $install) { return $null }
    $msbuild = Join-Path $install 'MSBuild' 'Current' 'Bin' 'MSBuild.exe'
    $projectSystem = Join-Path $install 'MSBuild' 'nanoFramework' 'v1.0' 'NFProjectSystem.CSharp.targets'
    if ((Test-Path -LiteralPath $msbuild) -and (Test-Path -LiteralPath $projectSystem)) { return $msbuild }
    $null
}

function Resolve-AppImage {
    # The .bin to deploy: -ImagePath, or a fresh build of the device project where the tools exist.
    param([string]$Given, [string]$BuildConfiguration)
    if ($Given) { return (Resolve-Path -LiteralPath $Given).ProviderPath }
    $output = Join-Path $script:RepoRoot 'firmware' 'SensorNode.Firmware.Device' 'bin' $BuildConfiguration 'SensorNode.Firmware.Device.bin'
    $msbuild = Find-MSBuildWithNanoFramework
    if (-not $msbuild) {
        $text = "step 'build application' failed: building the nanoFramework device project needs MSBuild with the nanoFramework project system, found only on Windows: install Visual Studio 2022 (any edition) with the '.NET desktop development' workload, then the '.NET nanoFramework' extension (Extensions > Manage Extensions). Or pass a prebuilt image with -ImagePath <SensorNode.Firmware.Device.bin>."
        if (Test-Path -LiteralPath $output) { $text += " A previous build exists: -ImagePath '$output'." }
        if ($WhatIfPreference) {
            Write-Warning $text
            return '<SensorNode.Firmware.Device.bin>'
        }
        throw [FlashStepException]::new($text)
    }
    $hints = @('Open SensorNode.sln in Visual Studio once so it restores packages.config, then build SensorNode.Firmware.Device there to see the full error.')
    Invoke-External -Step 'build application' -FilePath $msbuild -Hints $hints -Arguments @(
        $script:DeviceProject, '-t:Restore;Build', '-p:RestorePackagesConfig=true', "-p:Configuration=$BuildConfiguration", '-nologo', '-v:minimal')
    if (-not $WhatIfPreference -and -not (Test-Path -LiteralPath $output)) {
        throw [FlashStepException]::new("step 'build application' failed: MSBuild succeeded but '$output' was not produced.")
    }
    $output
}

function Get-BaudArgument {
    param([int]$Speed)
    if ($Speed -gt 0) { return @('--baud', "$Speed") }
    @()
}

function Update-Firmware {
    param([string]$Port, [string]$TargetName, [switch]$Erase, [int]$Speed)
    $a = @('--update', '--target', $TargetName, '--serialport', $Port)
    if ($Erase) { $a += '--masserase' }
    $a += Get-BaudArgument $Speed
    Invoke-External -Step 'flash firmware' -FilePath 'nanoff' -Arguments $a -Hints (Get-NanoffHints 'flash firmware')
}

function Publish-Application {
    param([string]$Port, [string]$TargetName, [string]$Image, [int]$Speed)
    $a = @('--target', $TargetName, '--serialport', $Port, '--deploy', '--image', $Image) + (Get-BaudArgument $Speed)
    Invoke-External -Step 'deploy application' -FilePath 'nanoff' -Arguments $a -Hints (Get-NanoffHints 'deploy application')
}

function New-NodeConfigText {
    # The node's configuration file in the format of firmware/README.md (one key=value per line, UTF-8).
    param([System.Collections.Specialized.OrderedDictionary]$Values)
    $lines = @('# SensorNode configuration, written by flash.ps1 (format: firmware/README.md)')
    foreach ($key in $Values.Keys) {
        $lines += "$key=$(Format-ConfigValue ([string]$Values[$key]))"
    }
    ($lines -join "`n") + "`n"
}

function Write-PrivateFile {
    # Writes text (UTF-8, no BOM) readable only by the current user.
    param([string]$Path, [string]$Text)
    $options = [System.IO.FileStreamOptions]::new()
    $options.Mode = [System.IO.FileMode]::Create
    $options.Access = [System.IO.FileAccess]::Write
    if (-not $IsWindows) { $options.UnixCreateMode = [System.IO.UnixFileMode]'UserRead, UserWrite' }
    $stream = [System.IO.FileStream]::new($Path, $options)
    try {
        $bytes = [System.Text.UTF8Encoding]::new($false).GetBytes($Text)
        $stream.Write($bytes, 0, $bytes.Length)
    } finally {
        $stream.Dispose()
    }
}

function Publish-CaCertificate {
    param([string]$Port, [string]$CertificatePath, [string]$WorkDir)
    $json = Join-Path $WorkDir 'network.json'
    $body = [ordered]@{ SerialPort = $Port; CACertificatesPath = (Resolve-Path -LiteralPath $CertificatePath).ProviderPath }
    if (-not $WhatIfPreference) { Write-PrivateFile $json ($body | ConvertTo-Json) }
    Invoke-External -Step 'store CA certificate' -FilePath 'nanoff' -Arguments @('--serialport', $Port, '--networkdeployment', $json) -Hints (Get-NanoffHints 'store CA certificate')
}

function Publish-NodeConfig {
    # Puts the configuration at I:\sensornode.conf with nanoff's file deployment, then resets the board.
    param([string]$Port, [string]$ConfigText, [string]$WorkDir)
    $conf = Join-Path $WorkDir 'sensornode.conf'
    $json = Join-Path $WorkDir 'deploy.json'
    $body = [ordered]@{ SerialPort = $Port; Files = @([ordered]@{ DestinationFilePath = $script:DeviceConfigPath; SourceFilePath = $conf }) }
    if (-not $WhatIfPreference) {
        Write-PrivateFile $conf $ConfigText
        Write-PrivateFile $json ($body | ConvertTo-Json -Depth 4)
    }
    Invoke-External -Step 'write configuration' -FilePath 'nanoff' -Arguments @('--serialport', $Port, '--filedeployment', $json, '--reset') -Hints (Get-NanoffHints 'write configuration')
}

function Get-SubscriberCommand {
    param([string]$HostName, [int]$Port, [string]$RoomName, [string]$User, [securestring]$Password, [bool]$UseTls, [string]$CaFile, [int]$TimeoutSeconds)
    $a = @('-h', $HostName, '-p', "$Port", '-F', '%r %t %p', '-W', "$TimeoutSeconds",
        '-t', "sensor/status/$RoomName", '-t', "sensor/temperature/$RoomName", '-t', "sensor/humidity/$RoomName")
    $redact = @()
    if ($User) { $a += @('-u', $User) }
    if ($User -and $Password -and $Password.Length -gt 0) {
        $a += '-P'
        $redact += $a.Count
        $a += ConvertTo-PlainText $Password
    }
    if ($UseTls) { $a += if ($CaFile) { @('--cafile', (Resolve-Path -LiteralPath $CaFile).ProviderPath) } else { @('--tls-use-os-certs') } }
    [pscustomobject]@{ Arguments = $a; Display = (Format-CommandLine 'mosquitto_sub' $a $redact) }
}

function Start-NodeWatcher {
    # Subscribes before the reset so the node's fresh `online` cannot be missed. Returns the process or $null.
    param($Command)
    if (-not $script:Cmdlet.ShouldProcess($Command.Display, 'wait for the node')) { return $null }
    $sub = Get-Command mosquitto_sub -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if (-not $sub) {
        Write-Warning "not waiting for the node: no MQTT subscriber found (mosquitto_sub; the SensorNode broker has no subscribe command). Install mosquitto-clients (apt install mosquitto-clients, brew install mosquitto, or mosquitto.org on Windows), or watch with any MQTT client: topic sensor/#."
        return $null
    }
    Write-Host "> $($Command.Display)"
    $psi = [System.Diagnostics.ProcessStartInfo]::new($sub.Source)
    foreach ($a in $Command.Arguments) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.UseShellExecute = $false
    [System.Diagnostics.Process]::Start($psi)
}

function Wait-NodeReport {
    # Reads `<retain> <topic> <payload>` lines; stale retained messages (retain 1) do not count.
    param([System.Diagnostics.Process]$Process, [string]$RoomName, [int]$TimeoutSeconds)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    $online = $false
    $reading = $null
    $pending = $Process.StandardOutput.ReadLineAsync()
    try {
        while (-not ($online -and $reading) -and [DateTime]::UtcNow -lt $deadline) {
            if (-not $pending.Wait(500)) { continue }
            $line = $pending.Result
            if ($null -eq $line) { break }
            $pending = $Process.StandardOutput.ReadLineAsync()
            $parts = $line -split ' ', 3
            if ($parts.Count -lt 3) { continue }
            $retained = $parts[0] -eq '1'
            $topic = $parts[1]
            $payload = $parts[2]
            if ($retained) { Write-Verbose "stale retained $topic = $payload (ignored)"; continue }
            if ($topic -eq "sensor/status/$RoomName" -and $payload -eq 'online') {
                $online = $true
                Write-Host "node '$RoomName' is online"
            } elseif ($topic -match '^sensor/(temperature|humidity)/' -and -not $reading) {
                $reading = "$topic = $payload"
                Write-Host "first reading: $reading"
            }
        }
    } finally {
        if (-not $Process.HasExited) { $Process.Kill() }
        $Process.Dispose()
    }
    if ($online -and $reading) {
        Write-Host "The node in room '$RoomName' is online and reporting."
        return
    }
    $missing = @()
    if (-not $online) { $missing += "'online' on sensor/status/$RoomName" }
    if (-not $reading) { $missing += "a reading on sensor/temperature/$RoomName or sensor/humidity/$RoomName" }
    throw [FlashStepException]::new("step 'wait for the node' failed: no $($missing -join ' and ') within $TimeoutSeconds s. The node may still be starting: watch its serial output (it prints every configuration problem with line and key), check Wi-Fi (2.4 GHz) and that the broker listens on the network, not only on localhost (sensornode-broker --bind any).")
}

# -------------------------------------------------------------------------------------------------------- main

function Assert-Parameter {
    # Rules that involve more than one parameter (the same as the firmware's ConfigParser). Returns the problems.
    $problems = @()
    $minimum = if ($SensorModel -eq 'DHT11') { 1 } else { 2 }
    if ($ReadIntervalSeconds -lt $minimum) { $problems += "-ReadIntervalSeconds must be at least $minimum s for $SensorModel." }
    if ($HeartbeatSeconds -lt $ReadIntervalSeconds) { $problems += "-HeartbeatSeconds ($HeartbeatSeconds) must not be shorter than -ReadIntervalSeconds ($ReadIntervalSeconds)." }
    if ($SensorEchoPin -eq $SensorTriggerPin) { $problems += "-SensorTriggerPin must differ from -SensorEchoPin (the ESP32 DHT binding uses two GPIOs joined to the data line)." }
    if ($LedPin -ge 0 -and $LedPin -in $SensorEchoPin, $SensorTriggerPin) { $problems += "-LedPin $LedPin is a sensor pin." }
    if ($CaCertificate -and -not $Tls) { $problems += '-CaCertificate needs -Tls.' }
    if ($MqttPassword -and $MqttPassword.Length -gt 0 -and -not $MqttUser) { $problems += '-MqttPassword needs -MqttUser (MQTT sends no password without a user name).' }
    if ($MqttPassword -and $MqttPassword.Length -gt 128) { $problems += '-MqttPassword must be at most 128 characters.' }
    if ($WifiPassword -and $OpenNetwork) { $problems += '-OpenNetwork and -WifiPassword exclude each other.' }
    if ($WifiPassword -and $WifiPassword.Length -ne 0 -and ($WifiPassword.Length -lt 8 -or $WifiPassword.Length -gt 63)) { $problems += '-WifiPassword must be 8 to 63 characters (WPA2).' }
    if ($EraseFlash -and ($SkipFirmware -or $ConfigOnly)) { $problems += '-EraseFlash wipes the firmware: it cannot be combined with -SkipFirmware or -ConfigOnly.' }
    if ($ImagePath -and $ConfigOnly) { $problems += '-ImagePath is not used with -ConfigOnly.' }
    $problems
}

function Write-Failure {
    # The reason for a non-zero exit, as plain text on stderr (no PowerShell error decoration or line wrapping).
    param([string]$Message)
    [Console]::Error.WriteLine($Message)
}

function Read-Secret {
    # Prompts without echo; returns an empty SecureString for Enter.
    param([string]$Prompt)
    Read-Host -Prompt $Prompt -AsSecureString
}

function Invoke-Flash {
    $problems = @(Assert-Parameter)
    if ($problems.Count -gt 0) {
        Write-Failure ("flash.ps1: invalid parameters:" + [Environment]::NewLine + (($problems | ForEach-Object { "  - $_" }) -join [Environment]::NewLine))
        return 2
    }

    # Secrets not given on the command line are asked for (never when only printing what would run).
    $wifiSecret = $WifiPassword
    if (-not $wifiSecret -and -not $OpenNetwork -and -not $WhatIfPreference) {
        $wifiSecret = Read-Secret "Wi-Fi password for '$WifiSsid' (Enter for an open network)"
        if ($wifiSecret.Length -ne 0 -and ($wifiSecret.Length -lt 8 -or $wifiSecret.Length -gt 63)) {
            Write-Failure 'flash.ps1: invalid parameters: the Wi-Fi password must be 8 to 63 characters (WPA2).'
            return 2
        }
    }
    $mqttSecret = $MqttPassword
    if ($MqttUser -and -not $mqttSecret -and -not $WhatIfPreference) {
        $mqttSecret = Read-Secret "MQTT password for '$MqttUser' (Enter for none)"
        if ($mqttSecret.Length -gt 128) {
            Write-Failure 'flash.ps1: invalid parameters: the MQTT password must be at most 128 characters.'
            return 2
        }
    }

    $port = if ($MqttPort) { $MqttPort } elseif ($Tls) { 8883 } else { 1883 }
    $values = [ordered]@{ wifi_ssid = $WifiSsid; mqtt_host = $MqttHost; mqtt_port = $port; mqtt_tls = $Tls.IsPresent.ToString().ToLowerInvariant() }
    if ($MqttUser) { $values['mqtt_user'] = $MqttUser }
    $values['room'] = $Room
    if ($NodeId) { $values['node_id'] = $NodeId }
    $values['sensor_model'] = $SensorModel
    $values['sensor_echo_pin'] = $SensorEchoPin
    $values['sensor_trigger_pin'] = $SensorTriggerPin
    $values['led_pin'] = $LedPin
    $values['led_inverted'] = $LedInverted.IsPresent.ToString().ToLowerInvariant()
    $values['read_interval_s'] = $ReadIntervalSeconds
    $values['heartbeat_s'] = $HeartbeatSeconds
    Write-Verbose ("configuration: " + (($values.Keys | ForEach-Object { "$_=$($values[$_])" }) -join ', ') + ' (passwords not shown)')

    $work = $null
    $watcher = $null
    try {
        Test-Prerequisite -Update:$UpdateNanoff
        if (-not $ConfigOnly) {
            $image = Resolve-AppImage -Given $ImagePath -BuildConfiguration $Configuration
            if (-not $SkipFirmware) { Update-Firmware -Port $SerialPort -TargetName $Target -Erase:$EraseFlash -Speed $Baud }
            Publish-Application -Port $SerialPort -TargetName $Target -Image $image -Speed $Baud
        }

        $work = if ($WhatIfPreference) { Join-Path ([IO.Path]::GetTempPath()) 'sensornode-flash-XXXXXX' } else { [System.IO.Directory]::CreateTempSubdirectory('sensornode-flash-').FullName }
        if ($Tls -and $CaCertificate) { Publish-CaCertificate -Port $SerialPort -CertificatePath $CaCertificate -WorkDir $work }

        if ($WaitForNode) {
            $command = Get-SubscriberCommand -HostName ($BrokerHost ? $BrokerHost : $MqttHost) -Port $port -RoomName $Room -User $MqttUser -Password $mqttSecret -UseTls $Tls.IsPresent -CaFile $CaCertificate -TimeoutSeconds $WaitTimeoutSeconds
            $watcher = Start-NodeWatcher $command
        }

        # The secrets are turned into text only here, for the file, and the text is dropped right after.
        $wifiText = ConvertTo-PlainText $wifiSecret
        if ($wifiText) { $values.Insert(1, 'wifi_password', $wifiText) }
        $mqttText = ConvertTo-PlainText $mqttSecret
        if ($MqttUser -and $mqttText) { $values.Insert(@($values.Keys).IndexOf('mqtt_user') + 1, 'mqtt_password', $mqttText) }
        $text = New-NodeConfigText $values
        $values.Remove('wifi_password')
        $values.Remove('mqtt_password')
        $wifiText = $null
        $mqttText = $null
        Publish-NodeConfig -Port $SerialPort -ConfigText $text -WorkDir $work
        $text = $null

        if ($watcher) {
            Write-Host "waiting up to $WaitTimeoutSeconds s for '$Room' to come online and report..."
            $process = $watcher
            $watcher = $null
            Wait-NodeReport -Process $process -RoomName $Room -TimeoutSeconds $WaitTimeoutSeconds
        }
        if (-not $WhatIfPreference) {
            Write-Host "Done: the node for room '$Room' is flashed and configured. Watch it with: mosquitto_sub -h $MqttHost -t 'sensor/#' -v"
        }
        return 0
    } catch [FlashStepException] {
        Write-Failure "flash.ps1: $($_.Exception.Message)"
        return 1
    } finally {
        if ($watcher -and -not $watcher.HasExited) { $watcher.Kill() }
        if ($work -and -not $WhatIfPreference -and (Test-Path -LiteralPath $work)) { Remove-Item -LiteralPath $work -Recurse -Force }
    }
}

if ($PSCmdlet.ParameterSetName -eq 'ListPorts') {
    Show-SerialPort
    exit 0
}
exit (Invoke-Flash)
